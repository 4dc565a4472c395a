//! The timeline: hourly credential deliveries to every instance, the planted episodes (what
//! must alert and the near misses that must not), and background traffic filling the rest of
//! the requested record count.

use std::collections::HashMap;

use anyhow::{bail, Result};
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};

use crate::catalog::Api;
use crate::event::{Event, Outcome, EXPECT_BURST, EXPECT_EXFILTRATION, VIA_VPCE};
use crate::ids;
use crate::world::{
    self, agents, Actor, App, Origin, SessionClass, SourceIp, UserClass, World, US_EAST_1,
};

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;

/// The default denial-burst window; background denials are kept far below it.
const BURST_WINDOW: i64 = 5 * MINUTE;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Params {
    /// Total records, planted ones included.
    pub records: u64,
    /// Member accounts.
    pub accounts: usize,
    /// Event-time span, hours.
    pub span_hours: u32,
    /// Event time of the corpus start, Unix seconds.
    pub start: i64,
    /// Seed of every random choice.
    pub seed: u64,
}

/// The detector a planted episode is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Canary use.
    CanaryUse,
    /// Instance credential exfiltration.
    Exfiltration,
    /// Denial burst.
    DenialBurst,
}

impl Rule {
    /// The rule ID tripkey writes.
    pub fn id(self) -> &'static str {
        match self {
            Rule::CanaryUse => "canary-use",
            Rule::Exfiltration => "instance-credential-exfiltration",
            Rule::DenialBurst => "access-denied-burst",
        }
    }
}

/// A planted episode. Which of its records must alert is marked on the records themselves
/// (canary actors, `EXPECT_*` flags); a near miss must raise no alert of its rule.
#[derive(Debug)]
pub struct Episode {
    /// What happens, for people reading the ground truth.
    pub note: String,
    /// For near misses: the rule that must stay silent.
    pub near_miss: Option<Rule>,
}

/// The generated timeline.
#[derive(Debug)]
pub struct Plan {
    /// The organisation.
    pub world: World,
    /// All records, in event-time order; a record's index is its `ord`.
    pub events: Vec<Event>,
    /// Planted episodes; `Event::episode` is an index into this plus one.
    pub episodes: Vec<Episode>,
    /// First event time.
    pub start: i64,
    /// End of the span.
    pub end: i64,
}

struct Planner {
    rng: StdRng,
    world: World,
    events: Vec<Event>,
    episodes: Vec<Episode>,
    start: i64,
    end: i64,
    /// Planted episodes happen between these times: after every instance has had its first
    /// credential delivery, and early enough that their files are written within the span.
    plant_lo: i64,
    plant_hi: i64,
    next_foreign: usize,
    foreign: Vec<SourceIp>,
}

/// Builds the timeline.
pub fn plan(params: &Params) -> Result<Plan> {
    let mut rng = StdRng::seed_from_u64(params.seed);
    let instances = (params.records / 3000).clamp(12, 600) as usize;
    let world = World::build(&mut rng, params.accounts, instances);
    let start = params.start;
    let end = start + i64::from(params.span_hours) * HOUR;
    let foreign = (0..32).map(|_| world::foreign_ip(&mut rng)).collect();
    let mut p = Planner {
        rng,
        world,
        events: Vec::new(),
        episodes: Vec::new(),
        start,
        end,
        plant_lo: start + 75 * MINUTE,
        plant_hi: end - 20 * MINUTE,
        next_foreign: 0,
        foreign,
    };
    p.credential_deliveries();
    p.canaries();
    p.exfiltration();
    p.bursts();
    p.late_deliveries();
    p.public_first_calls();
    let planted = p.events.len() as u64;
    if planted > params.records {
        bail!(
            "--records {} is too small: credential deliveries and planted episodes alone take {planted} records",
            params.records
        );
    }
    p.background((params.records - planted) as usize);
    p.events.sort_by_key(|e| e.time);
    p.space_background_denials();
    Ok(Plan {
        world: p.world,
        events: p.events,
        episodes: p.episodes,
        start,
        end,
    })
}

/// Relative activity of people over the UTC day (a team spread over Europe and the Americas).
fn people_activity(t: i64) -> f64 {
    match ids::Civil::of(t).hour {
        7..=17 => 1.0,
        18..=22 => 0.55,
        _ => 0.15,
    }
}

type Menu = &'static [(Api, u32)];

const WEB: Menu = &[
    (Api::S3GetObject, 30),
    (Api::S3PutObject, 8),
    (Api::S3HeadObject, 6),
    (Api::KmsDecrypt, 8),
    (Api::KmsGenerateDataKey, 4),
    (Api::SsmUpdateInstanceInformation, 14),
    (Api::SsmListInstanceAssociations, 4),
    (Api::SecretsGetSecretValue, 5),
    (Api::SsmGetParameter, 5),
    (Api::LogsCreateLogStream, 3),
    (Api::DynamoDescribeTable, 5),
    (Api::StsGetCallerIdentity, 2),
    (Api::Ec2DescribeTags, 2),
];
const WORKER: Menu = &[
    (Api::S3GetObject, 20),
    (Api::S3PutObject, 20),
    (Api::S3ListObjects, 6),
    (Api::KmsDecrypt, 8),
    (Api::KmsGenerateDataKey, 8),
    (Api::SsmUpdateInstanceInformation, 14),
    (Api::SsmListInstanceAssociations, 4),
    (Api::DynamoDescribeTable, 8),
    (Api::SecretsGetSecretValue, 3),
    (Api::LogsCreateLogStream, 3),
    (Api::StsGetCallerIdentity, 2),
];
const BATCH: Menu = &[
    (Api::S3GetObject, 35),
    (Api::S3PutObject, 25),
    (Api::S3ListObjects, 15),
    (Api::S3HeadObject, 8),
    (Api::KmsDecrypt, 6),
    (Api::SsmUpdateInstanceInformation, 8),
    (Api::LogsCreateLogStream, 3),
];
const K8S_NODE: Menu = &[
    (Api::Ec2DescribeInstances, 8),
    (Api::Ec2DescribeNetworkInterfaces, 10),
    (Api::Ec2DescribeTags, 5),
    (Api::EcrGetAuthorizationToken, 10),
    (Api::S3GetObject, 15),
    (Api::KmsDecrypt, 5),
    (Api::SsmUpdateInstanceInformation, 14),
    (Api::AutoScalingDescribeGroups, 4),
    (Api::Ec2CreateTags, 2),
    (Api::StsGetCallerIdentity, 3),
    (Api::LogsCreateLogStream, 3),
];
const BASTION: Menu = &[
    (Api::Ec2DescribeInstances, 20),
    (Api::S3ListObjects, 10),
    (Api::S3GetObject, 10),
    (Api::SsmUpdateInstanceInformation, 14),
    (Api::StsGetCallerIdentity, 10),
    (Api::LogsDescribeLogGroups, 5),
    (Api::Ec2DescribeSecurityGroups, 5),
];
const LAMBDA: Menu = &[
    (Api::S3GetObject, 20),
    (Api::S3PutObject, 15),
    (Api::DynamoDescribeTable, 10),
    (Api::KmsDecrypt, 15),
    (Api::SecretsGetSecretValue, 10),
    (Api::SsmGetParameter, 10),
    (Api::LogsCreateLogStream, 10),
    (Api::StsGetCallerIdentity, 3),
];
const CONSOLE: Menu = &[
    (Api::Ec2DescribeInstances, 15),
    (Api::Ec2DescribeSecurityGroups, 8),
    (Api::Ec2DescribeVolumes, 5),
    (Api::CfnDescribeStacks, 10),
    (Api::S3ListBuckets, 6),
    (Api::S3ListObjects, 6),
    (Api::LogsDescribeLogGroups, 8),
    (Api::IamListRoles, 5),
    (Api::DynamoDescribeTable, 5),
    (Api::LambdaListFunctions, 6),
    (Api::AutoScalingDescribeGroups, 4),
    (Api::ElbDescribeTargetHealth, 4),
    (Api::ConsoleLogin, 1),
    (Api::SecretsListSecrets, 3),
    (Api::StsGetCallerIdentity, 3),
];
const PEOPLE_CLI: Menu = &[
    (Api::Ec2DescribeInstances, 15),
    (Api::S3ListObjects, 15),
    (Api::S3GetObject, 10),
    (Api::S3ListBuckets, 5),
    (Api::StsGetCallerIdentity, 10),
    (Api::LogsDescribeLogGroups, 8),
    (Api::SsmGetParameter, 6),
    (Api::CfnDescribeStacks, 6),
    (Api::IamGetUser, 3),
    (Api::SecretsGetSecretValue, 3),
    (Api::DynamoDescribeTable, 4),
];
const CI_JOB: Menu = &[
    (Api::StsGetCallerIdentity, 4),
    (Api::Ec2DescribeInstances, 10),
    (Api::Ec2DescribeSecurityGroups, 10),
    (Api::Ec2DescribeVolumes, 4),
    (Api::Ec2DescribeNetworkInterfaces, 4),
    (Api::Ec2DescribeTags, 6),
    (Api::IamListRoles, 4),
    (Api::S3GetObject, 8),
    (Api::S3PutObject, 6),
    (Api::DynamoDescribeTable, 4),
    (Api::CfnDescribeStacks, 6),
    (Api::EcrGetAuthorizationToken, 6),
    (Api::LambdaListFunctions, 3),
    (Api::ElbDescribeTargetHealth, 3),
    (Api::AutoScalingDescribeGroups, 3),
    (Api::KmsDecrypt, 3),
];
const MONITORING: Menu = &[
    (Api::Ec2DescribeInstances, 10),
    (Api::Ec2DescribeVolumes, 5),
    (Api::CloudTrailDescribeTrails, 2),
    (Api::AutoScalingDescribeGroups, 5),
    (Api::ElbDescribeTargetHealth, 5),
    (Api::DynamoDescribeTable, 4),
    (Api::LambdaListFunctions, 4),
    (Api::S3ListBuckets, 2),
    (Api::LogsDescribeLogGroups, 3),
];
const SERVICE_LINKED: Menu = &[
    (Api::Ec2DescribeInstances, 10),
    (Api::Ec2DescribeSecurityGroups, 4),
    (Api::Ec2DescribeVolumes, 4),
    (Api::Ec2DescribeNetworkInterfaces, 4),
    (Api::ElbDescribeTargetHealth, 4),
    (Api::Ec2CreateTags, 1),
];

fn choose_api(rng: &mut impl Rng, menu: Menu) -> Api {
    menu.choose_weighted(rng, |(_, w)| *w)
        .map_or(Api::StsGetCallerIdentity, |(api, _)| *api)
}

fn gap(rng: &mut impl Rng, lo: i64, hi: i64) -> i64 {
    rng.random_range(lo..=hi)
}

impl Planner {
    fn episode(&mut self, near_miss: Option<Rule>, note: impl Into<String>) -> u16 {
        self.episodes.push(Episode {
            note: note.into(),
            near_miss,
        });
        self.episodes.len() as u16
    }

    fn push(&mut self, episode: u16, mut ev: Event) {
        ev.episode = episode;
        self.events.push(ev);
    }

    /// A start time for an episode lasting `duration`, not before `earliest`.
    fn slot(&mut self, duration: i64, earliest: i64) -> i64 {
        let lo = self.plant_lo.max(earliest);
        let hi = (self.plant_hi - duration).max(lo);
        self.rng.random_range(lo..=hi)
    }

    fn foreign_ip(&mut self) -> SourceIp {
        let ip = self.foreign[self.next_foreign % self.foreign.len()];
        self.next_foreign += 1;
        ip
    }

    fn user_named(&self, account: usize, name: &str) -> usize {
        self.world
            .users
            .iter()
            .position(|u| u.account == account && u.name == name)
            .unwrap_or(0)
    }

    fn instance_region(&self, i: usize) -> u8 {
        self.world.instances[i].region
    }

    /// Every instance gets fresh credentials about once an hour through an `AssumeRole` by
    /// `ec2.amazonaws.com`, the record the exfiltration detector seeds its table from.
    fn credential_deliveries(&mut self) {
        for i in 0..self.world.instances.len() {
            let mut t = self.start + self.rng.random_range(0..HOUR);
            let mut seeds = Vec::new();
            while t < self.end {
                seeds.push(t);
                t += HOUR + self.rng.random_range(-5 * MINUTE..=5 * MINUTE);
            }
            let inst = &self.world.instances[i];
            let (account, region) = (inst.account, inst.region);
            for &s in &seeds {
                let ev = Event::new(
                    s,
                    Actor::Service("ec2.amazonaws.com"),
                    Api::StsAssumeRoleForInstance,
                    account,
                    region,
                )
                .ip(SourceIp::Service("ec2.amazonaws.com"))
                .arg(i);
                self.push(0, ev);
            }
            self.world.instances[i].seeds = seeds;
        }
    }

    /// An instance that reaches some services through VPC endpoints makes its first call
    /// after its first credential delivery to a public endpoint. Read literally, DESIGN.md's
    /// locking steps alert when an instance locked to its private address later calls a public
    /// endpoint from its own public address; real instances do both, but the corpus keeps its
    /// ground truth clear of that ambiguity.
    fn public_first_calls(&mut self) {
        for i in 0..self.world.instances.len() {
            let inst = &self.world.instances[i];
            let Some(&first) = inst.seeds.first() else {
                continue;
            };
            if !inst.vpce {
                continue;
            }
            let (account, region) = (inst.account, inst.region);
            let ev = Event::new(
                first + 30,
                Actor::Instance(i as u32),
                Api::Ec2DescribeTags,
                account,
                region,
            );
            self.push(0, ev);
        }
    }

    /// Calls `calls` one after another from `ip` with `agent`, `gaps` seconds apart; returns
    /// the time after the last one.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        episode: u16,
        actor: Actor,
        mut t: i64,
        ip: Option<SourceIp>,
        agent: Option<&'static str>,
        gaps: (i64, i64),
        calls: &[(Api, u8, Outcome)],
    ) -> i64 {
        let account = self.world.account_of(actor).unwrap_or(0);
        for &(api, region, outcome) in calls {
            let mut ev = Event::new(t, actor, api, account, region).outcome(outcome);
            ev.ip = ip;
            ev.agent = agent;
            self.push(episode, ev);
            t += gap(&mut self.rng, gaps.0, gaps.1);
        }
        t
    }

    /// Marks the earliest denial of `actor` in `episode` at or after `from` as the first
    /// record of an expected burst.
    fn mark_burst(&mut self, episode: u16, actor: Actor, from: i64) {
        if let Some(ev) = self
            .events
            .iter_mut()
            .filter(|e| {
                e.episode == episode && e.actor == actor && e.time >= from && e.outcome.is_denial()
            })
            .min_by_key(|e| e.time)
        {
            ev.flags |= EXPECT_BURST;
        }
    }

    fn canaries(&mut self) {
        use Outcome::{DeniedExplicit as Deny, Ok};
        let ca = self.world.accounts.len() - 1;
        let canary_actor = |w: &World, name: &str| {
            w.canaries
                .iter()
                .find(|c| c.name == name)
                .map_or(Actor::User(0), |c| c.actor)
        };
        let provisioner = self.user_named(ca, "svc-provisioner");
        let poller_role = self.world.add_role(&mut self.rng, ca, "/", "sec-tooling");
        let poller_ip = world::aws_ip(&mut self.rng);
        let poller = self.world.add_session(
            &mut self.rng,
            poller_role,
            "last-used-poller",
            US_EAST_1,
            Origin::Fixed(vec![poller_ip]),
            agents::PYTHON,
            SessionClass::Operator,
        );

        // Provisioning and the safety-net poller name the canaries' keys and ARNs in their
        // request and response fields; only the canary's own identity may alert.
        let ep = self.episode(
            Some(Rule::CanaryUse),
            "provisioning of canary deploy-artifacts: CreateUser, PutUserPolicy and CreateAccessKey by the provisioner carry the canary's name and key",
        );
        let deploy = canary_actor(&self.world, "deploy-artifacts");
        let Actor::User(deploy_user) = deploy else {
            unreachable!("deploy-artifacts is an IAM user canary")
        };
        let t = self.start + gap(&mut self.rng, 10 * MINUTE, 40 * MINUTE);
        for (k, api) in [
            Api::IamCreateUser,
            Api::IamPutUserPolicy,
            Api::IamCreateAccessKey,
        ]
        .into_iter()
        .enumerate()
        {
            let ev = Event::new(
                t + 2 * k as i64,
                Actor::User(provisioner as u32),
                api,
                ca,
                US_EAST_1,
            )
            .arg(deploy_user as usize);
            self.push(ep, ev);
        }
        let ep = self.episode(
            Some(Rule::CanaryUse),
            "safety-net poller calls GetAccessKeyLastUsed on every IAM canary key every 15 minutes",
        );
        let iam_canaries: Vec<u32> = self
            .world
            .canaries
            .iter()
            .filter_map(|c| match c.actor {
                Actor::User(u) => Some(u),
                _ => None,
            })
            .collect();
        let mut t = self.start + gap(&mut self.rng, 0, 15 * MINUTE);
        while t < self.end {
            for (k, &u) in iam_canaries.iter().enumerate() {
                let ev = Event::new(
                    t + k as i64,
                    Actor::Session(poller as u32),
                    Api::IamGetAccessKeyLastUsed,
                    ca,
                    US_EAST_1,
                )
                .arg(u as usize);
                self.push(ep, ev);
            }
            t += 15 * MINUTE + gap(&mut self.rng, -30, 30);
        }

        // billing-export: a key-validity check, then hours later a second party tries it.
        let actor = canary_actor(&self.world, "billing-export");
        let ep = self.episode(None, "canary billing-export: validity check with GetCallerIdentity, then a second user tries it hours later");
        let t1 = self.slot(4 * HOUR, 0);
        let (ip1, ip2) = (self.foreign_ip(), self.foreign_ip());
        self.run(
            ep,
            actor,
            t1,
            Some(ip1),
            Some(agents::ATTACKER[2]),
            (5, 5),
            &[(Api::StsGetCallerIdentity, US_EAST_1, Ok)],
        );
        let t2 = (t1 + gap(&mut self.rng, 2 * HOUR, 4 * HOUR)).min(self.plant_hi);
        self.run(
            ep,
            actor,
            t2,
            Some(ip2),
            Some(agents::ATTACKER[0]),
            (5, 20),
            &[
                (Api::StsGetCallerIdentity, US_EAST_1, Ok),
                (Api::S3ListBuckets, US_EAST_1, Deny),
                (Api::StsGetCallerIdentity, US_EAST_1, Ok),
            ],
        );

        // terraform-state-reader: an enumeration tool sprays services and regions; 13
        // denials within two minutes are also a denial burst.
        let actor = canary_actor(&self.world, "terraform-state-reader");
        let ep = self.episode(None, "canary terraform-state-reader: automated enumeration across services and regions (also a denial burst)");
        let t = self.slot(10 * MINUTE, 0);
        let ip = self.foreign_ip();
        let mut calls = vec![
            (Api::StsGetCallerIdentity, US_EAST_1, Ok),
            (Api::IamGetUser, US_EAST_1, Deny),
            (Api::IamListAttachedUserPolicies, US_EAST_1, Deny),
            (Api::IamListUserPolicies, US_EAST_1, Deny),
            (Api::S3ListBuckets, US_EAST_1, Deny),
        ];
        for region in [0u8, 1, 2, 3, 4, 7] {
            calls.push((Api::Ec2DescribeInstances, region, Deny));
        }
        calls.extend([
            (Api::SecretsListSecrets, US_EAST_1, Deny),
            (Api::LambdaListFunctions, US_EAST_1, Deny),
            (Api::SnsListTopics, 2, Deny),
        ]);
        self.run(
            ep,
            actor,
            t,
            Some(ip),
            Some(agents::ATTACKER[1]),
            (1, 6),
            &calls,
        );
        self.mark_burst(ep, actor, t);

        // backup-sync: one call, with a user agent built to break renderers.
        let actor = canary_actor(&self.world, "backup-sync");
        let ep = self.episode(None, "canary backup-sync: one GetCallerIdentity whose user agent carries HTML, Slack markup and terminal escapes");
        let t = self.slot(MINUTE, 0);
        let ip = self.foreign_ip();
        self.run(
            ep,
            actor,
            t,
            Some(ip),
            Some(agents::HOSTILE),
            (1, 1),
            &[(Api::StsGetCallerIdentity, 2, Ok)],
        );

        // ci-cache: a federation token issued at the start, used later.
        let actor = canary_actor(&self.world, "ci-cache");
        let ep = self.episode(
            Some(Rule::CanaryUse),
            "GetFederationToken by the provisioner issues canary ci-cache; its response carries the canary's ARN and key",
        );
        let issued = self.start + gap(&mut self.rng, 5 * MINUTE, 30 * MINUTE);
        self.push(
            ep,
            Event::new(
                issued,
                Actor::User(provisioner as u32),
                Api::StsGetFederationToken,
                ca,
                US_EAST_1,
            )
            .arg(0),
        );
        self.world.federated[0].issued = Some(issued);
        let ep = self.episode(None, "canary ci-cache (federated user, matched by principal ARN): GetCallerIdentity and two denied S3 calls");
        let t = self.slot(5 * MINUTE, issued + HOUR).min(issued + 30 * HOUR);
        let ip = self.foreign_ip();
        let region = self.world.accounts[ca].regions[0];
        self.run(
            ep,
            actor,
            t,
            Some(ip),
            Some(agents::ATTACKER[3]),
            (3, 30),
            &[
                (Api::StsGetCallerIdentity, US_EAST_1, Ok),
                (Api::S3ListBuckets, US_EAST_1, Deny),
                (Api::S3ListObjects, region, Deny),
            ],
        );

        // jenkins-ops-session: a role session canary (matched by principal ARN).
        let actor = canary_actor(&self.world, "jenkins-ops-session");
        let Actor::Session(session) = actor else {
            unreachable!("jenkins-ops-session is a role session canary")
        };
        let t = self.slot(5 * MINUTE, 0);
        let assumed = (t - gap(&mut self.rng, HOUR, 10 * HOUR)).max(self.start);
        let ep = self.episode(
            Some(Rule::CanaryUse),
            "AssumeRole by the provisioner starts canary session jenkins-07; its response carries the canary's ARN",
        );
        self.push(
            ep,
            Event::new(
                assumed,
                Actor::User(provisioner as u32),
                Api::StsAssumeRole,
                ca,
                US_EAST_1,
            )
            .arg(session as usize),
        );
        self.world.sessions[session as usize].started = Some(assumed);
        let ep = self.episode(None, "canary jenkins-ops-session (role session, matched by principal ARN): GetCallerIdentity and two denied DescribeInstances");
        let ip = self.foreign_ip();
        self.run(
            ep,
            actor,
            t,
            Some(ip),
            Some(agents::ATTACKER[1]),
            (2, 15),
            &[
                (Api::StsGetCallerIdentity, US_EAST_1, Ok),
                (Api::Ec2DescribeInstances, US_EAST_1, Deny),
                (Api::Ec2DescribeInstances, 1, Deny),
            ],
        );
    }

    /// Instances for planted episodes: own public address, distinct, stable order.
    fn pick_instances(&mut self, n: usize) -> Vec<usize> {
        let mut candidates: Vec<usize> = (0..self.world.instances.len())
            .filter(|&i| self.world.instances[i].own_public)
            .collect();
        candidates.shuffle(&mut self.rng);
        candidates.truncate(n);
        for &i in &candidates {
            self.world.instances[i].quiet = true;
        }
        candidates
    }

    /// The instance's own calls shortly before `t`, so its session is locked to its own
    /// addresses before anything else happens.
    fn lock_calls(&mut self, episode: u16, i: usize, t: i64) {
        let inst = &self.world.instances[i];
        let (account, region, vpce) = (inst.account, inst.region, inst.vpce);
        let actor = Actor::Instance(i as u32);
        let mut ev = Event::new(t, actor, Api::SsmUpdateInstanceInformation, account, region);
        if vpce {
            ev = ev.flag(VIA_VPCE);
        }
        self.push(episode, ev);
        let ev = Event::new(t + 40, actor, Api::Ec2DescribeTags, account, region);
        self.push(episode, ev);
    }

    /// CI associates an Elastic IP with instance `i` at `t` (its file `late_percent` of the
    /// corpus's lateness late); the instance calls from the new address a minute later.
    fn associate_address(&mut self, episode: u16, i: usize, t: i64, late_percent: u8) {
        let inst = &self.world.instances[i];
        let (account, region) = (inst.account, inst.region);
        let terraform = self.user_named(account, "terraform-ci");
        let ci = world::ci_ip(&mut self.rng);
        let ev = Event::new(
            t,
            Actor::User(terraform as u32),
            Api::Ec2AssociateAddress,
            account,
            region,
        )
        .ip(ci)
        .agent(agents::CI[0])
        .arg(i)
        .late(late_percent);
        self.push(episode, ev);
        let eip = world::aws_ip(&mut self.rng);
        self.world.instances[i].ip_switch = Some((t + MINUTE, eip));
    }

    /// When an episode on instance `i` lasting `duration` may start: late enough for a
    /// credential delivery and a lock 40 minutes before it.
    fn instance_slot(&mut self, i: usize, duration: i64) -> i64 {
        let first = self.world.instances[i]
            .seeds
            .first()
            .copied()
            .unwrap_or(self.start);
        self.slot(duration, first + 45 * MINUTE)
    }

    fn exfiltration(&mut self) {
        use Outcome::{Denied, Ok};
        let picked = self.pick_instances(8);
        let [e1, e2, e3, e4, n1, n2, n3, n4] = picked[..] else {
            unreachable!("World::build gives the first 12 instances their own public address")
        };

        // E1: SSRF through an IMDSv1 web server, then S3 exfiltration from a laptop (the
        // OTRF chain).
        self.world.instances[e1].imds_v1 = true;
        self.world.instances[e1].vpce = false;
        let ep = self.episode(None, "instance credentials fetched by SSRF through IMDSv1, then S3 listing and downloads from a foreign address (OTRF-style)");
        let t = self.instance_slot(e1, 30 * MINUTE);
        let lock = t - gap(&mut self.rng, 25 * MINUTE, 40 * MINUTE);
        self.lock_calls(ep, e1, lock);
        let region = self.instance_region(e1);
        let ip = self.foreign_ip();
        let stolen_at = t - gap(&mut self.rng, 5 * MINUTE, 20 * MINUTE);
        let from = self.events.len();
        let mut calls = vec![
            (Api::StsGetCallerIdentity, US_EAST_1, Ok),
            (Api::S3ListBuckets, US_EAST_1, Ok),
        ];
        calls.extend([(Api::S3ListObjects, region, Ok); 3]);
        calls.extend([(Api::S3GetObject, region, Ok); 4]);
        let actor = Actor::Instance(e1 as u32);
        self.run(
            ep,
            actor,
            t,
            Some(ip),
            Some(agents::ATTACKER[0]),
            (10, 90),
            &calls,
        );
        self.mark_stolen(from, stolen_at);

        // E2: a worker behind VPC endpoints; the thief explores and trips a denial burst.
        self.world.instances[e2].vpce = true;
        let ep = self.episode(None, "instance credentials of a VPC-endpoint worker used from a foreign address; the thief's permission probing is also a denial burst");
        let t = self.instance_slot(e2, 20 * MINUTE);
        let lock = t - gap(&mut self.rng, 25 * MINUTE, 40 * MINUTE);
        self.lock_calls(ep, e2, lock);
        let region = self.instance_region(e2);
        let ip = self.foreign_ip();
        let stolen_at = t - gap(&mut self.rng, 2 * MINUTE, 30 * MINUTE);
        let from = self.events.len();
        let actor = Actor::Instance(e2 as u32);
        self.run(
            ep,
            actor,
            t,
            Some(ip),
            Some(agents::ATTACKER[1]),
            (2, 8),
            &[
                (Api::StsGetCallerIdentity, US_EAST_1, Ok),
                (Api::Ec2DescribeInstances, region, Ok),
                (Api::SecretsGetSecretValue, region, Ok),
                (Api::IamListRoles, US_EAST_1, Denied),
                (Api::IamListUsers, US_EAST_1, Denied),
                (Api::S3ListBuckets, US_EAST_1, Denied),
                (Api::LambdaListFunctions, region, Denied),
                (Api::SecretsListSecrets, region, Denied),
                (Api::Ec2GetPasswordData, region, Denied),
                (Api::DynamoDescribeTable, region, Denied),
            ],
        );
        self.mark_stolen(from, stolen_at);
        self.mark_burst(ep, actor, t);

        // E3: a private address on a record without vpcEndpointId cannot be the instance
        // calling a public endpoint.
        self.world.instances[e3].vpce = false;
        let ep = self.episode(None, "instance credentials used from a private address (172.31.0.0/16) on records without vpcEndpointId: judged like a new public address");
        let t = self.instance_slot(e3, 10 * MINUTE);
        let lock = t - gap(&mut self.rng, 25 * MINUTE, 40 * MINUTE);
        self.lock_calls(ep, e3, lock);
        let region = self.instance_region(e3);
        let ip = SourceIp::V4([
            172,
            31,
            self.rng.random_range(0..=255),
            self.rng.random_range(4..=250),
        ]);
        let from = self.events.len();
        let actor = Actor::Instance(e3 as u32);
        self.run(
            ep,
            actor,
            t,
            Some(ip),
            Some(agents::ATTACKER[2]),
            (5, 40),
            &[
                (Api::S3ListBuckets, US_EAST_1, Ok),
                (Api::S3GetObject, region, Ok),
                (Api::S3GetObject, region, Ok),
            ],
        );
        self.mark_stolen(from, t - 10 * MINUTE);

        // E4: a single validity check from abroad.
        let ep = self.episode(
            None,
            "instance credentials checked once with GetCallerIdentity from a foreign address",
        );
        let t = self.instance_slot(e4, MINUTE);
        let lock = t - gap(&mut self.rng, 25 * MINUTE, 40 * MINUTE);
        self.lock_calls(ep, e4, lock);
        let ip = self.foreign_ip();
        let from = self.events.len();
        let actor = Actor::Instance(e4 as u32);
        self.run(
            ep,
            actor,
            t,
            Some(ip),
            Some(agents::ATTACKER[3]),
            (1, 1),
            &[(Api::StsGetCallerIdentity, US_EAST_1, Ok)],
        );
        self.mark_stolen(from, t - 3 * MINUTE);

        // N1: an Elastic IP is associated with the instance; its calls then come from the new
        // address, which the association's credit covers.
        let ep = self.episode(Some(Rule::Exfiltration), "AssociateAddress gives the instance a new public address; its calls from there are covered by the IP-change credit");
        self.world.instances[n1].vpce = false;
        let t = self.instance_slot(n1, 30 * MINUTE);
        let lock = t - gap(&mut self.rng, 25 * MINUTE, 40 * MINUTE);
        self.lock_calls(ep, n1, lock);
        self.associate_address(ep, n1, t, 0);
        let after = t + gap(&mut self.rng, 2 * MINUTE, 5 * MINUTE);
        self.run(
            ep,
            Actor::Instance(n1 as u32),
            after,
            None,
            None,
            (20, 90),
            &[
                (Api::SsmUpdateInstanceInformation, region, Ok),
                (Api::S3GetObject, region, Ok),
                (Api::KmsDecrypt, region, Ok),
            ],
        );

        // N2: AWS services acting with the instance's credentials.
        let ep = self.episode(Some(Rule::Exfiltration), "instance credentials used by AWS services on the instance's behalf (ec2.amazonaws.com, AWS Internal, athena.amazonaws.com)");
        let t = self.instance_slot(n2, 10 * MINUTE);
        let lock = t - gap(&mut self.rng, 25 * MINUTE, 40 * MINUTE);
        self.lock_calls(ep, n2, lock);
        let region = self.instance_region(n2);
        let actor = Actor::Instance(n2 as u32);
        for (k, (api, service)) in [
            (Api::KmsDecrypt, "ec2.amazonaws.com"),
            (Api::KmsGenerateDataKey, "ec2.amazonaws.com"),
            (Api::S3GetObject, "AWS Internal"),
            (Api::S3GetObject, "athena.amazonaws.com"),
        ]
        .into_iter()
        .enumerate()
        {
            let account = self.world.instances[n2].account;
            let ev = Event::new(t + 30 * k as i64, actor, api, account, region)
                .ip(SourceIp::Service(service));
            self.push(ep, ev);
        }

        // N3: someone runs an unusual client on the instance itself.
        let ep = self.episode(Some(Rule::Exfiltration), "instance credentials used from the instance's own address with an unusual user agent (an operator's CLI on the box)");
        self.world.instances[n3].vpce = false;
        let t = self.instance_slot(n3, 10 * MINUTE);
        let lock = t - gap(&mut self.rng, 25 * MINUTE, 40 * MINUTE);
        self.lock_calls(ep, n3, lock);
        let region = self.instance_region(n3);
        self.run(
            ep,
            Actor::Instance(n3 as u32),
            t,
            None,
            Some(agents::ATTACKER[0]),
            (5, 30),
            &[
                (Api::StsGetCallerIdentity, US_EAST_1, Ok),
                (Api::S3ListBuckets, US_EAST_1, Ok),
                (Api::Ec2DescribeInstances, region, Ok),
            ],
        );

        // N4: the instance's first use is seen after a refresh of its credentials: the
        // refresh keeps the lock, and its calls keep coming from the same address.
        let ep = self.episode(
            Some(Rule::Exfiltration),
            "instance calls spanning several credential refreshes, all from its own address",
        );
        let t = self.instance_slot(n4, 3 * HOUR);
        let region = self.instance_region(n4);
        let actor = Actor::Instance(n4 as u32);
        let account = self.world.instances[n4].account;
        for k in 0..6 {
            let ev = Event::new(
                t + k * 30 * MINUTE,
                actor,
                Api::S3GetObject,
                account,
                region,
            );
            self.push(ep, ev);
        }

        // Lambda sessions have no ec2.amazonaws.com delivery, so calls from many addresses
        // are not judged at all.
        let lambda = self
            .world
            .sessions
            .iter()
            .position(|s| s.class == SessionClass::Lambda && s.account == 0)
            .unwrap_or(0);
        let ep = self.episode(Some(Rule::Exfiltration), "Lambda role session calling from several AWS addresses within minutes (no EC2 credential delivery, so not an instance session)");
        let t = self.slot(5 * MINUTE, 0);
        let region = self.world.sessions[lambda].region;
        let actor = Actor::Session(lambda as u32);
        for k in 0..4 {
            let ip = world::aws_ip(&mut self.rng);
            let ev = Event::new(t + 40 * k, actor, Api::DynamoDescribeTable, 0, region).ip(ip);
            self.push(ep, ev);
        }
    }

    /// Marks the records from index `from` on as signed with credentials stolen at
    /// `stolen_at`, and the first of them as the expected exfiltration alert.
    fn mark_stolen(&mut self, from: usize, stolen_at: i64) {
        for ev in &mut self.events[from..] {
            ev.key_lag = (ev.time - stolen_at).max(0) as u32;
        }
        if let Some(first) = self.events[from..].iter_mut().min_by_key(|e| e.time) {
            first.flags |= EXPECT_EXFILTRATION;
        }
    }

    /// Episodes whose truth holds only when the detectors do not depend on delivery order:
    /// their files come late by a planted share of `--max-lateness` (with 75 minutes: 20, 65
    /// and 75), in an order that misleads a detector deciding in arrival order.
    fn late_deliveries(&mut self) {
        use Outcome::Denied;

        // L1: one principal's denials split over three regions whose files come 20, 65 and 75
        // minutes late; no region alone holds five within five minutes.
        let Some(user) = (0..self.world.users.len()).find(|&u| {
            let user = &self.world.users[u];
            !user.quiet && user.class == UserClass::Person
        }) else {
            return;
        };
        self.world.users[user].quiet = true;
        let actor = Actor::User(user as u32);
        let ep = self.episode(None, "a stolen key probes three regions at once; each region's file comes late (20, 65 and 75 minutes with --max-lateness 75) and none alone holds a burst");
        let t = self.slot(5 * MINUTE, 0);
        let ip = self.foreign_ip();
        let account = self.world.users[user].account;
        let apis = [
            Api::Ec2DescribeInstances,
            Api::SecretsListSecrets,
            Api::LambdaListFunctions,
        ];
        for (k, (region, late)) in [(0u8, 27u8), (1, 87), (2, 100)]
            .into_iter()
            .cycle()
            .take(6)
            .enumerate()
        {
            let ev = Event::new(t + 15 * k as i64, actor, apis[k % 3], account, region)
                .outcome(Denied)
                .ip(ip)
                .agent(agents::ATTACKER[1])
                .late(late);
            self.push(ep, ev);
        }
        self.mark_burst(ep, actor, t);

        let fresh: Vec<usize> = (0..self.world.instances.len())
            .filter(|&i| {
                let instance = &self.world.instances[i];
                instance.own_public && !instance.quiet
            })
            .take(2)
            .collect();
        let [first, credited] = fresh[..] else {
            return;
        };
        for &i in &fresh {
            self.world.instances[i].quiet = true;
            self.world.instances[i].vpce = false;
        }

        // L2: the attacker's calls are in a file delivered before the one holding the
        // instance's own earlier calls.
        let ep = self.episode(None, "instance credentials used from a foreign address; the instance's own earlier calls come in a file delivered later (attacker first in arrival order, not in event time)");
        let t = self.instance_slot(first, 10 * MINUTE);
        let inst = &self.world.instances[first];
        let (account, region) = (inst.account, inst.region);
        let actor = Actor::Instance(first as u32);
        for (offset, api) in [
            (0, Api::SsmUpdateInstanceInformation),
            (40, Api::Ec2DescribeTags),
        ] {
            let ev = Event::new(t + offset, actor, api, account, region).late(100);
            self.push(ep, ev);
        }
        let other_region = if region == US_EAST_1 { 1 } else { US_EAST_1 };
        let from = self.events.len();
        let ip = self.foreign_ip();
        self.run(
            ep,
            actor,
            t + 90,
            Some(ip),
            Some(agents::ATTACKER[0]),
            (10, 40),
            &[
                (Api::StsGetCallerIdentity, other_region, Outcome::Ok),
                (Api::S3ListBuckets, other_region, Outcome::Ok),
            ],
        );
        self.mark_stolen(from, t - 5 * MINUTE);

        // L3: the AssociateAddress that explains an instance's new address comes after the
        // calls from that address.
        let ep = self.episode(Some(Rule::Exfiltration), "AssociateAddress gives the instance a new address, but its file comes 75 minutes late, after the instance's calls from the new address: the credit applies from its event time");
        let t = self.instance_slot(credited, 30 * MINUTE);
        let lock = t - gap(&mut self.rng, 25 * MINUTE, 40 * MINUTE);
        self.lock_calls(ep, credited, lock);
        self.associate_address(ep, credited, t, 100);
        let region = self.world.instances[credited].region;
        self.run(
            ep,
            Actor::Instance(credited as u32),
            t + 10 * MINUTE,
            None,
            None,
            (20, 90),
            &[
                (Api::SsmUpdateInstanceInformation, region, Outcome::Ok),
                (Api::S3GetObject, region, Outcome::Ok),
            ],
        );
    }

    fn bursts(&mut self) {
        use Outcome::{Denied, Ok, Throttled};

        // B1: a CI user's leaked key enumerates from abroad.
        let user = self.user_named(0, "github-actions");
        self.world.users[user].quiet = true;
        let actor = Actor::User(user as u32);
        let ep = self.episode(None, "leaked CI key (github-actions) probes permissions from a foreign address: 12 denials in about a minute");
        let t = self.slot(5 * MINUTE, 0);
        let ip = self.foreign_ip();
        let mut calls = vec![
            (Api::StsGetCallerIdentity, US_EAST_1, Ok),
            (Api::IamListUsers, US_EAST_1, Denied),
            (Api::IamListRoles, US_EAST_1, Denied),
            (Api::Ec2DescribeRegions, US_EAST_1, Ok),
            (Api::S3ListBuckets, US_EAST_1, Denied),
            (Api::SecretsListSecrets, US_EAST_1, Denied),
            (Api::KmsDecrypt, US_EAST_1, Denied),
            (Api::EcrGetAuthorizationToken, US_EAST_1, Ok),
        ];
        for region in [0u8, 1, 2, 5] {
            calls.push((Api::Ec2DescribeInstances, region, Denied));
        }
        calls.extend([
            (Api::SsmGetParameter, US_EAST_1, Denied),
            (Api::DynamoDescribeTable, US_EAST_1, Denied),
            (Api::LambdaListFunctions, US_EAST_1, Denied),
        ]);
        self.run(
            ep,
            actor,
            t,
            Some(ip),
            Some(agents::ATTACKER[1]),
            (1, 6),
            &calls,
        );
        self.mark_burst(ep, actor, t);

        // B2: the Stratus ec2-get-password-data detonation: a user assumes a role (denied
        // twice while the trust policy propagates), then 30 GetPasswordData denials in seconds.
        let user = self.user_named(0, "jonas.berg");
        self.world.users[user].quiet = true;
        let user_ip = self.world.users[user].ips[0];
        let role = self.world.add_role(&mut self.rng, 0, "/", "ops-automation");
        let session_name = format!(
            "aws-go-sdk-{}",
            self.rng
                .random_range(1_700_000_000_000_000_000u64..1_800_000_000_000_000_000)
        );
        let session = self.world.add_session(
            &mut self.rng,
            role,
            &session_name,
            US_EAST_1,
            Origin::Fixed(vec![user_ip]),
            agents::ATTACKER,
            SessionClass::Operator,
        );
        self.world.sessions[session].quiet = true;
        let ep = self.episode(None, "Stratus-style GetPasswordData spray: 30 Client.UnauthorizedOperation within seconds from an assumed-role session");
        let t = self.slot(5 * MINUTE, 0);
        self.world.sessions[session].started = Some(t + 6);
        let agent = agents::ATTACKER[2];
        for (k, outcome) in [Denied, Denied, Ok].into_iter().enumerate() {
            let ev = Event::new(
                t + 3 * k as i64,
                Actor::User(user as u32),
                Api::StsAssumeRole,
                0,
                0,
            )
            .outcome(outcome)
            .ip(user_ip)
            .agent(agent)
            .arg(session);
            self.push(ep, ev);
        }
        let actor = Actor::Session(session as u32);
        let region = *self.world.accounts[0].regions.last().unwrap_or(&US_EAST_1);
        let calls = vec![(Api::Ec2GetPasswordData, region, Denied); 30];
        self.run(
            ep,
            actor,
            t + 12,
            Some(user_ip),
            Some(agent),
            (0, 1),
            &calls,
        );
        self.mark_burst(ep, actor, t);

        // B3: two separate bursts of one person, 25 quiet minutes apart: two alerts.
        let sso = self
            .world
            .sessions
            .iter()
            .position(|s| s.class == SessionClass::Sso && s.account == 0)
            .unwrap_or(0);
        self.world.sessions[sso].quiet = true;
        let actor = Actor::Session(sso as u32);
        let region = self.world.sessions[sso].region;
        let ep = self.episode(None, "one SSO session, two denial bursts 25 minutes apart with mixed error codes (AccessDeniedException, AuthorizationError, AccessDenied, Client.UnauthorizedOperation): two alerts");
        let t = self.slot(40 * MINUTE, 0);
        let end = self.run(
            ep,
            actor,
            t,
            None,
            None,
            (10, 30),
            &[
                (Api::KmsDecrypt, region, Denied),
                (Api::SnsListTopics, region, Denied),
                (Api::SsmGetParameter, region, Denied),
                (Api::SsmGetParameter, region, Denied),
                (Api::KmsGenerateDataKey, region, Denied),
                (Api::SecretsGetSecretValue, region, Denied),
            ],
        );
        self.mark_burst(ep, actor, t);
        let t2 = end + 25 * MINUTE;
        self.run(
            ep,
            actor,
            t2,
            None,
            None,
            (3, 12),
            &[
                (Api::CfnDescribeStacks, region, Denied),
                (Api::AutoScalingDescribeGroups, region, Denied),
                (Api::ElbDescribeTargetHealth, region, Denied),
                (Api::LogsDescribeLogGroups, region, Denied),
                (Api::Ec2DescribeVolumes, region, Denied),
                (Api::Ec2DescribeSecurityGroups, region, Denied),
                (Api::IamListRoles, US_EAST_1, Denied),
            ],
        );
        self.mark_burst(ep, actor, t2);

        // B4: a misconfigured function retrying for 40 minutes: gaps never exceed the window,
        // so it is one burst.
        let lambda = self
            .world
            .sessions
            .iter()
            .position(|s| {
                s.class == SessionClass::Lambda && s.account == 0 && s.name == "report-generator"
            })
            .unwrap_or(0);
        self.world.sessions[lambda].quiet = true;
        let actor = Actor::Session(lambda as u32);
        let region = self.world.sessions[lambda].region;
        let ep = self.episode(None, "Lambda report-generator denied s3:GetObject every ~50 s for 40 minutes: one long burst");
        let t = self.slot(45 * MINUTE, 0);
        let calls = vec![(Api::S3GetObject, region, Denied); 48];
        self.run(ep, actor, t, None, None, (45, 55), &calls);
        self.mark_burst(ep, actor, t);

        // B5: denials split across two regions still count together.
        let user = self.user_named(0, "emil.larsen");
        self.world.users[user].quiet = true;
        let actor = Actor::User(user as u32);
        let ep = self.episode(None, "six DescribeInstances denials within two minutes, alternating us-east-1 and eu-west-1: one burst across regions");
        let t = self.slot(5 * MINUTE, 0);
        let calls: Vec<_> = (0..6)
            .map(|k| {
                (
                    Api::Ec2DescribeInstances,
                    if k % 2 == 0 { 0 } else { 2 },
                    Denied,
                )
            })
            .collect();
        self.run(ep, actor, t, None, None, (10, 20), &calls);
        self.mark_burst(ep, actor, t);

        // Near misses.
        let user = self.user_named(0, "marco.rossi");
        self.world.users[user].quiet = true;
        let ep = self.episode(
            Some(Rule::DenialBurst),
            "four denials within a minute, then nothing: below the threshold of five",
        );
        let t = self.slot(5 * MINUTE, 0);
        self.run(
            ep,
            Actor::User(user as u32),
            t,
            None,
            None,
            (8, 15),
            &[
                (Api::IamListRoles, US_EAST_1, Denied),
                (Api::IamListUsers, US_EAST_1, Denied),
                (Api::SecretsListSecrets, 1, Denied),
                (Api::Ec2DescribeSnapshots, 1, Denied),
            ],
        );

        let user = self.user_named(0, "datadog-integration");
        self.world.users[user].quiet = true;
        let ep = self.episode(Some(Rule::DenialBurst), "a poller denied cloudtrail:DescribeTrails every 80-100 s for an hour: never five within five minutes");
        let duration = HOUR.min(self.plant_hi - self.plant_lo);
        let t = self.slot(duration, 0);
        let n = (duration / 100) as usize;
        let calls = vec![(Api::CloudTrailDescribeTrails, US_EAST_1, Denied); n];
        self.run(
            ep,
            Actor::User(user as u32),
            t,
            None,
            None,
            (80, 100),
            &calls,
        );

        let lambda = self
            .world
            .sessions
            .iter()
            .position(|s| {
                s.class == SessionClass::Lambda && s.account == 0 && s.name == "audit-log-forwarder"
            })
            .unwrap_or(0);
        self.world.sessions[lambda].quiet = true;
        let region = self.world.sessions[lambda].region;
        let ep = self.episode(
            Some(Rule::DenialBurst),
            "ten HeadBucket AccessDenied within a minute: HeadBucket is not counted (CIS 4.1)",
        );
        let t = self.slot(5 * MINUTE, 0);
        let calls = vec![(Api::S3HeadBucket, region, Denied); 10];
        self.run(
            ep,
            Actor::Session(lambda as u32),
            t,
            None,
            None,
            (3, 8),
            &calls,
        );

        let ep = self.episode(Some(Rule::DenialBurst), "eight GetBucketAcl denials of delivery.logs.amazonaws.com within two minutes: log delivery is not counted");
        let t = self.slot(5 * MINUTE, 0);
        let delivery = SourceIp::Service("delivery.logs.amazonaws.com");
        let calls = vec![(Api::S3GetBucketAcl, US_EAST_1, Denied); 8];
        let actor = Actor::Service("delivery.logs.amazonaws.com");
        let from = self.events.len();
        self.run(ep, actor, t, Some(delivery), None, (5, 20), &calls);
        let account = self.world.accounts.len().saturating_sub(2);
        for ev in &mut self.events[from..] {
            ev.account = account as u16;
        }

        let user = self.user_named(0, "nora.kaplan");
        self.world.users[user].quiet = true;
        let ep = self.episode(
            Some(Rule::DenialBurst),
            "four denials and three throttles within three minutes: throttling is not a denial",
        );
        let t = self.slot(5 * MINUTE, 0);
        self.run(
            ep,
            Actor::User(user as u32),
            t,
            None,
            None,
            (10, 30),
            &[
                (Api::Ec2DescribeInstances, 1, Denied),
                (Api::Ec2DescribeInstances, 1, Throttled),
                (Api::Ec2DescribeVolumes, 1, Denied),
                (Api::Ec2DescribeVolumes, 1, Throttled),
                (Api::Ec2DescribeSecurityGroups, 1, Denied),
                (Api::Ec2DescribeSecurityGroups, 1, Throttled),
                (Api::Ec2DescribeNetworkInterfaces, 1, Denied),
            ],
        );
    }

    /// A time in the span, drawn from a daily profile that is flat for `people = 0` and
    /// follows working hours for `people = 1`.
    fn sample_time(&mut self, people: f64) -> i64 {
        loop {
            let t = self.rng.random_range(self.start..self.end);
            let p = 1.0 - people + people * people_activity(t);
            if self.rng.random_bool(p.clamp(0.0, 1.0)) {
                return t;
            }
        }
    }

    fn background(&mut self, n: usize) {
        const SHARES: [(Class, f64); 7] = [
            (Class::Instance, 0.52),
            (Class::Lambda, 0.10),
            (Class::Service, 0.10),
            (Class::Sso, 0.10),
            (Class::People, 0.05),
            (Class::Ci, 0.10),
            (Class::Monitoring, 0.03),
        ];
        let pools = Pools::of(&self.world);
        let mut left = n;
        for (k, (class, share)) in SHARES.iter().enumerate() {
            let count = if k + 1 == SHARES.len() {
                left
            } else {
                ((n as f64 * share) as usize).min(left)
            };
            left -= count;
            if *class == Class::Ci {
                self.ci_jobs(&pools, count);
                continue;
            }
            for _ in 0..count {
                let ev = self.background_call(&pools, *class);
                let ev = self.with_background_error(ev);
                self.push(0, ev);
            }
        }
    }

    fn region_of(&mut self, account: usize) -> u8 {
        *self.world.accounts[account]
            .regions
            .choose(&mut self.rng)
            .unwrap_or(&US_EAST_1)
    }

    fn background_call(&mut self, pools: &Pools, class: Class) -> Event {
        match class {
            Class::Instance => {
                let i = self.rng.sample(&pools.instances);
                let t = self.sample_time(0.2);
                let inst = &self.world.instances[i];
                let menu = match inst.app {
                    App::Web => WEB,
                    App::Worker => WORKER,
                    App::Batch => BATCH,
                    App::K8sNode => K8S_NODE,
                    App::Bastion => BASTION,
                };
                let (account, region, vpce) = (inst.account, inst.region, inst.vpce);
                let actor = Actor::Instance(i as u32);
                let api = choose_api(&mut self.rng, menu);
                let settled = t > self.world.instances[i].seeds.first().map_or(t, |s| s + 60);
                if vpce && api.via_endpoint() && settled {
                    Event::new(t, actor, api, account, region).flag(VIA_VPCE)
                } else if self.rng.random_bool(0.004) {
                    let (api, service) = if self.rng.random_bool(0.5) {
                        (Api::KmsDecrypt, "ec2.amazonaws.com")
                    } else {
                        (Api::S3GetObject, "AWS Internal")
                    };
                    Event::new(t, actor, api, account, region).ip(SourceIp::Service(service))
                } else {
                    Event::new(t, actor, api, account, region)
                }
            }
            Class::Lambda => {
                let s = *pools.lambda.choose(&mut self.rng).unwrap_or(&0);
                let api = choose_api(&mut self.rng, LAMBDA);
                let t = self.sample_time(0.4);
                let session = &self.world.sessions[s];
                Event::new(
                    t,
                    Actor::Session(s as u32),
                    api,
                    session.account,
                    session.region,
                )
            }
            Class::Service => self.service_call(pools),
            Class::Sso => {
                let s = *pools.sso.choose(&mut self.rng).unwrap_or(&0);
                let api = choose_api(&mut self.rng, CONSOLE);
                let t = self.sample_time(1.0);
                let (account, home) = (
                    self.world.sessions[s].account,
                    self.world.sessions[s].region,
                );
                let region = if self.rng.random_bool(0.7) {
                    home
                } else {
                    self.region_of(account)
                };
                Event::new(t, Actor::Session(s as u32), api, account, region)
            }
            Class::People | Class::Monitoring => {
                let (users, menu, people) = if class == Class::People {
                    (&pools.people, PEOPLE_CLI, 1.0)
                } else {
                    (&pools.monitoring, MONITORING, 0.0)
                };
                let u = *users.choose(&mut self.rng).unwrap_or(&0);
                let api = choose_api(&mut self.rng, menu);
                let t = self.sample_time(people);
                let account = self.world.users[u].account;
                let region = self.region_of(account);
                Event::new(t, Actor::User(u as u32), api, account, region)
            }
            Class::Ci => unreachable!("CI traffic comes in jobs"),
        }
    }

    fn service_call(&mut self, pools: &Pools) -> Event {
        let account = self.rng.random_range(0..self.world.accounts.len());
        let region = self.region_of(account);
        let t = self.sample_time(0.1);
        let roll: f64 = self.rng.random();
        if roll < 0.35 {
            let (service, api) = *[
                ("cloudtrail.amazonaws.com", Api::KmsGenerateDataKey),
                ("cloudtrail.amazonaws.com", Api::S3GetBucketAcl),
                ("s3.amazonaws.com", Api::KmsDecrypt),
                ("s3.amazonaws.com", Api::KmsGenerateDataKey),
                ("secretsmanager.amazonaws.com", Api::KmsDecrypt),
            ]
            .choose(&mut self.rng)
            .unwrap_or(&("s3.amazonaws.com", Api::KmsDecrypt));
            Event::new(t, Actor::Service(service), api, account, region)
                .ip(SourceIp::Service(service))
        } else if roll < 0.55 {
            let s = *pools.lambda.choose(&mut self.rng).unwrap_or(&0);
            let session = &self.world.sessions[s];
            Event::new(
                t,
                Actor::Service("lambda.amazonaws.com"),
                Api::StsAssumeRoleForService,
                session.account,
                session.region,
            )
            .ip(SourceIp::Service("lambda.amazonaws.com"))
            .arg(s)
        } else {
            let s = *pools.service_linked.choose(&mut self.rng).unwrap_or(&0);
            let api = choose_api(&mut self.rng, SERVICE_LINKED);
            let account = self.world.sessions[s].account;
            let region = self.region_of(account);
            Event::new(t, Actor::Session(s as u32), api, account, region)
        }
    }

    /// CI traffic arrives in jobs: a runner address, a few minutes, dozens of calls.
    fn ci_jobs(&mut self, pools: &Pools, mut n: usize) {
        while n > 0 {
            let size = self.rng.random_range(40..250).min(n);
            n -= size;
            let u = *pools.ci.choose(&mut self.rng).unwrap_or(&0);
            let account = self.world.users[u].account;
            let region = self.region_of(account);
            let ip = *self.world.users[u]
                .ips
                .choose(&mut self.rng)
                .unwrap_or(&SourceIp::V4([4, 4, 4, 4]));
            let agent = *self.world.users[u]
                .agents
                .choose(&mut self.rng)
                .unwrap_or(&agents::CI[0]);
            let t0 = self.sample_time(0.7);
            let duration = self.rng.random_range(60..300);
            for _ in 0..size {
                let t = (t0 + self.rng.random_range(0..duration)).min(self.end - 1);
                let api = choose_api(&mut self.rng, CI_JOB);
                let ev = Event::new(t, Actor::User(u as u32), api, account, region)
                    .ip(ip)
                    .agent(agent);
                let ev = self.with_background_error(ev);
                self.push(0, ev);
            }
        }
    }

    /// Background errors: rare denials, missing resources, throttling.
    fn with_background_error(&mut self, ev: Event) -> Event {
        let roll: f64 = self.rng.random();
        let spec = ev.api.spec();
        let can_deny = !matches!(ev.actor, Actor::Service(_))
            && !matches!(ev.ip, Some(SourceIp::Service(_)))
            && !matches!(
                ev.api,
                Api::ConsoleLogin
                    | Api::StsAssumeRoleForInstance
                    | Api::StsAssumeRoleForService
                    | Api::StsGetCallerIdentity
            );
        let can_miss = matches!(
            ev.api,
            Api::S3GetObject
                | Api::S3HeadObject
                | Api::SsmGetParameter
                | Api::DynamoDescribeTable
                | Api::Ec2DescribeInstances
        );
        let can_throttle = spec.name.starts_with("Describe") || spec.name.starts_with("List");
        let outcome = if roll < 0.003 && can_deny {
            Outcome::Denied
        } else if roll < 0.013 && can_miss {
            Outcome::NotFound
        } else if roll < 0.015 && can_throttle {
            Outcome::Throttled
        } else {
            Outcome::Ok
        };
        ev.outcome(outcome)
    }

    /// Keeps background denials of any one principal at least two minutes apart (at most
    /// three in any five minutes), and drops them for principals a planted episode owns, so
    /// that the only bursts are the planted ones.
    fn space_background_denials(&mut self) {
        let mut last: HashMap<Actor, i64> = HashMap::new();
        for i in 0..self.events.len() {
            let ev = &self.events[i];
            if ev.episode != 0 || !ev.outcome.is_denial() {
                continue;
            }
            let quiet = match ev.actor {
                Actor::User(u) => self.world.users[u as usize].quiet,
                Actor::Session(s) => self.world.sessions[s as usize].quiet,
                Actor::Instance(k) => self.world.instances[k as usize].quiet,
                Actor::Federated(_) | Actor::Service(_) => true,
            };
            let too_close = last
                .get(&ev.actor)
                .is_some_and(|&t| ev.time - t < BURST_WINDOW * 2 / 5);
            if quiet || too_close {
                self.events[i].outcome = Outcome::Ok;
            } else {
                last.insert(ev.actor, ev.time);
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Instance,
    Lambda,
    Service,
    Sso,
    People,
    Ci,
    Monitoring,
}

/// Who background traffic is drawn from.
struct Pools {
    instances: WeightedIndex<f64>,
    lambda: Vec<usize>,
    sso: Vec<usize>,
    service_linked: Vec<usize>,
    people: Vec<usize>,
    monitoring: Vec<usize>,
    ci: Vec<usize>,
}

impl Pools {
    fn of(w: &World) -> Pools {
        let sessions = |class| {
            (0..w.sessions.len())
                .filter(|&s| w.sessions[s].class == class)
                .collect()
        };
        let users = |class| {
            (0..w.users.len())
                .filter(|&u| w.users[u].class == class)
                .collect()
        };
        Pools {
            instances: WeightedIndex::new(w.instances.iter().map(|i| i.weight))
                .expect("instance weights are positive"),
            lambda: sessions(SessionClass::Lambda),
            sso: sessions(SessionClass::Sso),
            service_linked: sessions(SessionClass::ServiceLinked),
            people: users(UserClass::Person),
            monitoring: users(UserClass::Monitoring),
            ci: users(UserClass::Ci),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(records: u64, seed: u64) -> Params {
        Params {
            records,
            accounts: 3,
            span_hours: 6,
            start: ids::parse_iso("2025-06-02T21:00:00Z").unwrap(),
            seed,
        }
    }

    fn fingerprint(p: &Plan) -> Vec<String> {
        p.events.iter().map(|e| format!("{e:?}")).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_plan() {
        let a = plan(&params(8000, 9)).unwrap();
        let b = plan(&params(8000, 9)).unwrap();
        let c = plan(&params(8000, 10)).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn writes_exactly_the_requested_records_within_the_span() {
        let p = plan(&params(8000, 1)).unwrap();
        assert_eq!(p.events.len(), 8000);
        assert!(p.events.windows(2).all(|w| w[0].time <= w[1].time));
        assert!(p.events.iter().all(|e| e.time >= p.start && e.time < p.end));
    }

    #[test]
    fn too_few_records_for_the_plants_is_an_error() {
        let err = plan(&params(100, 1)).unwrap_err().to_string();
        assert!(err.contains("too small"), "{err}");
    }

    #[test]
    fn background_denials_never_reach_five_in_five_minutes() {
        let p = plan(&params(20_000, 3)).unwrap();
        let mut per_actor: HashMap<Actor, Vec<i64>> = HashMap::new();
        for e in p
            .events
            .iter()
            .filter(|e| e.episode == 0 && e.outcome.is_denial())
        {
            per_actor.entry(e.actor).or_default().push(e.time);
        }
        assert!(!per_actor.is_empty(), "the background has some denials");
        for times in per_actor.values() {
            for w in times.windows(3) {
                assert!(w[2] - w[0] > BURST_WINDOW / 2, "{w:?}");
            }
        }
    }

    #[test]
    fn every_expected_alert_is_planted_once() {
        let p = plan(&params(8000, 5)).unwrap();
        let flagged = |bit| p.events.iter().filter(|e| e.flags & bit != 0).count();
        // Planted on time, plus the late episodes (L1's burst, L2's exfiltration).
        assert_eq!(flagged(EXPECT_EXFILTRATION), 5);
        assert_eq!(flagged(EXPECT_BURST), 9);
        let canary_actors: Vec<Actor> = p.world.canaries.iter().map(|c| c.actor).collect();
        let uses = p
            .events
            .iter()
            .filter(|e| canary_actors.contains(&e.actor))
            .count();
        assert_eq!(uses, 25);
    }
}
