//! Turns a planned event into a full CloudTrail record, in the key order CloudTrail writes.
//!
//! Every random detail of record `ord` comes from streams derived from the corpus seed and
//! `ord`, so the output does not depend on which thread renders which file, and the ground
//! truth can recompute the same event ID and source address.

use rand::seq::IndexedRandom;
use rand::Rng;

use crate::catalog::{self, Api, Ctx, Picks};
use crate::event::{Event, VIA_VPCE};
use crate::ids;
use crate::json::Obj;
use crate::world::{self, agents, Actor, Origin, SourceIp, World, REGIONS};

const EVENT_ID_STREAM: u64 = 0x6576_656e_7449_4400;
const SOURCE_IP_STREAM: u64 = 0x7372_6349_5000_0000;

/// The `eventID` of record `ord`.
pub fn event_id(seed: u64, ord: usize) -> String {
    ids::uuid(&mut ids::rng_for(
        ids::mix(seed, EVENT_ID_STREAM),
        ord as u64,
    ))
}

/// The `sourceIPAddress` of record `ord`.
pub fn source_ip(w: &World, ev: &Event, seed: u64, ord: usize) -> SourceIp {
    if let Some(ip) = ev.ip {
        return ip;
    }
    let rng = &mut ids::rng_for(ids::mix(seed, SOURCE_IP_STREAM), ord as u64);
    match ev.actor {
        Actor::User(u) => w.users[u as usize]
            .ips
            .choose(rng)
            .copied()
            .unwrap_or_else(|| world::aws_ip(rng)),
        Actor::Session(s) => match &w.sessions[s as usize].origin {
            Origin::Fixed(ips) => ips
                .choose(rng)
                .copied()
                .unwrap_or_else(|| world::aws_ip(rng)),
            Origin::AwsPool => world::aws_ip(rng),
            Origin::Service(name) => SourceIp::Service(name),
        },
        Actor::Instance(i) => {
            let inst = &w.instances[i as usize];
            if ev.flags & VIA_VPCE != 0 {
                inst.private_ip
            } else {
                inst.ip_at(ev.time)
            }
        }
        Actor::Federated(_) => world::aws_ip(rng),
        Actor::Service(name) => SourceIp::Service(name),
    }
}

fn user_agent(w: &World, ev: &Event, ip: SourceIp, rng: &mut impl Rng) -> &'static str {
    if let Some(agent) = ev.agent {
        return agent;
    }
    if let SourceIp::Service(name) = ip {
        return name;
    }
    let pick = |list: &'static [&'static str], rng: &mut _| list.choose(rng).copied().unwrap_or("");
    match ev.actor {
        Actor::Instance(i) => match ev.api {
            Api::SsmUpdateInstanceInformation | Api::SsmListInstanceAssociations => {
                agents::SSM_AGENT
            }
            Api::LogsCreateLogStream => agents::CW_AGENT,
            _ => pick(w.instances[i as usize].app.agents(), rng),
        },
        Actor::User(u) => pick(w.users[u as usize].agents, rng),
        Actor::Session(s) => pick(w.sessions[s as usize].agents, rng),
        Actor::Federated(_) => pick(agents::ATTACKER, rng),
        Actor::Service(name) => name,
    }
}

fn write_identity(w: &World, ev: &Event, ip: SourceIp, o: &mut Obj<'_>) {
    let arn = w.arn(ev.actor).unwrap_or_default();
    let creds = w.credentials(ev.actor, ev.key_time());
    let attributes = |o: &mut Obj<'_>, created: i64| {
        o.obj("attributes", |o| {
            o.str("creationDate", &ids::iso(created))
                .str("mfaAuthenticated", "false");
        });
    };
    let role_session = |o: &mut Obj<'_>, account: usize, role: usize, session: &str| {
        let r = &w.roles[role];
        let account_id = &w.accounts[account].id;
        let (key, created) = creds.clone().unwrap_or_default();
        o.str("type", "AssumedRole")
            .str("principalId", &format!("{}:{}", r.id, session))
            .str("arn", &arn)
            .str("accountId", account_id)
            .str("accessKeyId", &key)
            .obj("sessionContext", |o| {
                o.obj("sessionIssuer", |o| {
                    o.str("type", "Role")
                        .str("principalId", &r.id)
                        .str("arn", &w.role_arn(role))
                        .str("accountId", account_id)
                        .str("userName", &r.name);
                })
                .obj("webIdFederationData", |_| {});
                attributes(o, created);
                if let Actor::Instance(i) = ev.actor {
                    let v1 = w.instances[i as usize].imds_v1;
                    o.str("ec2RoleDelivery", if v1 { "1.0" } else { "2.0" });
                }
            });
    };
    match ev.actor {
        Actor::User(u) => {
            let user = &w.users[u as usize];
            o.str("type", "IAMUser")
                .str("principalId", &user.id)
                .str("arn", &arn)
                .str("accountId", &w.accounts[user.account].id)
                .str("accessKeyId", &user.key)
                .str("userName", &user.name);
        }
        Actor::Session(s) => {
            let s = &w.sessions[s as usize];
            role_session(o, s.account, s.role, &s.name);
        }
        Actor::Instance(i) => {
            let inst = &w.instances[i as usize];
            role_session(o, inst.account, inst.role, &inst.id);
        }
        Actor::Federated(f) => {
            let f = &w.federated[f as usize];
            let issuer = &w.users[f.issuer];
            let account_id = &w.accounts[f.account].id;
            let (key, created) = creds.unwrap_or_default();
            o.str("type", "FederatedUser")
                .str("principalId", &format!("{account_id}:{}", f.name))
                .str("arn", &arn)
                .str("accountId", account_id)
                .str("accessKeyId", &key)
                .obj("sessionContext", |o| {
                    o.obj("sessionIssuer", |o| {
                        o.str("type", "IAMUser")
                            .str("principalId", &issuer.id)
                            .str("arn", &w.user_arn(f.issuer))
                            .str("accountId", account_id)
                            .str("userName", &issuer.name);
                    })
                    .obj("webIdFederationData", |_| {});
                    attributes(o, created);
                });
        }
        Actor::Service(name) => {
            o.str("type", "AWSService").str("invokedBy", name);
        }
    }
    if let (SourceIp::Service(name), false) = (ip, matches!(ev.actor, Actor::Service(_))) {
        o.str("invokedBy", name);
    }
}

/// Appends record `ord` to `out`.
pub fn write_record(out: &mut Vec<u8>, w: &World, ev: &Event, seed: u64, ord: usize) {
    let mut rng = ids::rng_for(seed, ord as u64);
    let account = &w.accounts[ev.account as usize];
    let region = REGIONS[ev.region as usize];
    let spec = ev.api.spec();
    let arn = w.arn(ev.actor);
    let c = Ctx {
        world: w,
        event: ev,
        account,
        region,
        arn: arn.as_deref(),
    };
    let picks = Picks::draw(ev.api, account, &mut rng);
    let ip = source_ip(w, ev, seed, ord);
    let agent = user_agent(w, ev, ip, &mut rng);
    let error = catalog::error(&c, &picks, &mut rng);
    let request_id = if spec.source == "s3.amazonaws.com" {
        ids::upper_hex(&mut rng, 16)
    } else {
        ids::uuid(&mut rng)
    };
    let console = match ev.actor {
        Actor::Session(s) => w.sessions[s as usize].console,
        _ => false,
    };
    Obj::write(out, |o| {
        o.str("eventVersion", ev.api.event_version())
            .obj("userIdentity", |o| write_identity(w, ev, ip, o))
            .str("eventTime", &ids::iso(ev.time))
            .str("eventSource", spec.source)
            .str("eventName", spec.name)
            .str("awsRegion", region)
            .display("sourceIPAddress", ip)
            .str("userAgent", agent);
        if let Some((code, message)) = &error {
            o.str("errorCode", code).str("errorMessage", message);
        }
        catalog::write_body(&c, &picks, &mut rng, o);
        o.str("requestID", &request_id)
            .str("eventID", &event_id(seed, ord))
            .bool("readOnly", spec.read_only);
        catalog::write_resources(&c, &picks, o);
        o.str(
            "eventType",
            if ev.api == Api::ConsoleLogin {
                "AwsConsoleSignIn"
            } else {
                "AwsApiCall"
            },
        )
        .bool("managementEvent", !spec.data)
        .str("recipientAccountId", &account.id);
        if matches!(
            ev.api,
            Api::StsAssumeRoleForInstance | Api::StsAssumeRoleForService
        ) {
            o.str("sharedEventID", &ids::uuid(&mut rng));
        }
        if ev.flags & VIA_VPCE != 0 {
            o.str(
                "vpcEndpointId",
                &w.vpce_ids[ev.account as usize][ev.region as usize],
            )
            .str("vpcEndpointAccountId", &account.id);
        }
        o.str(
            "eventCategory",
            if spec.data { "Data" } else { "Management" },
        );
        if !ip.is_service() && ev.api != Api::ConsoleLogin {
            let tls13 = rng.random_bool(0.8);
            o.obj("tlsDetails", |o| {
                o.str("tlsVersion", if tls13 { "TLSv1.3" } else { "TLSv1.2" })
                    .str(
                        "cipherSuite",
                        if tls13 {
                            "TLS_AES_128_GCM_SHA256"
                        } else {
                            "ECDHE-RSA-AES128-GCM-SHA256"
                        },
                    )
                    .str(
                        "clientProvidedHostHeader",
                        &catalog::host_header(&c, &picks),
                    );
            });
        }
        if console {
            o.str("sessionCredentialFromConsole", "true");
        }
    });
}
