//! The API calls the corpus contains, with the request and response details CloudTrail logs
//! for each, modelled on the Stratus Red Team and OTRF records.

use rand::seq::IndexedRandom;
use rand::Rng;

use crate::event::{Event, Outcome};
use crate::ids;
use crate::json::Obj;
use crate::world::{self, Account, Actor, World};

/// An API call, named after its service and `eventName`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    S3GetObject,
    S3PutObject,
    S3ListObjects,
    S3HeadObject,
    S3HeadBucket,
    S3ListBuckets,
    S3GetBucketAcl,
    StsGetCallerIdentity,
    /// `AssumeRole` by a person or tool; `arg` is the session it starts.
    StsAssumeRole,
    /// `AssumeRole` by `ec2.amazonaws.com` delivering an instance's credentials; `arg` is the
    /// instance.
    StsAssumeRoleForInstance,
    /// `AssumeRole` by Lambda for a function's execution role; `arg` is the session.
    StsAssumeRoleForService,
    /// `arg` is the federated user.
    StsGetFederationToken,
    KmsDecrypt,
    KmsGenerateDataKey,
    Ec2DescribeInstances,
    Ec2DescribeVolumes,
    Ec2DescribeSecurityGroups,
    Ec2DescribeTags,
    Ec2DescribeNetworkInterfaces,
    Ec2DescribeRegions,
    Ec2DescribeSnapshots,
    Ec2CreateTags,
    /// `arg` is the instance that gets the address.
    Ec2AssociateAddress,
    Ec2GetPasswordData,
    SsmUpdateInstanceInformation,
    SsmListInstanceAssociations,
    SsmGetParameter,
    SecretsGetSecretValue,
    SecretsListSecrets,
    LogsCreateLogStream,
    LogsDescribeLogGroups,
    DynamoDescribeTable,
    EcrGetAuthorizationToken,
    IamGetUser,
    IamListUsers,
    IamListRoles,
    IamListAttachedUserPolicies,
    IamListUserPolicies,
    /// `arg` is the user whose key is looked up.
    IamGetAccessKeyLastUsed,
    /// `arg` is the user created.
    IamCreateUser,
    /// `arg` is the user.
    IamCreateAccessKey,
    /// `arg` is the user.
    IamPutUserPolicy,
    LambdaListFunctions,
    SnsListTopics,
    ConsoleLogin,
    CfnDescribeStacks,
    AutoScalingDescribeGroups,
    ElbDescribeTargetHealth,
    CloudTrailDescribeTrails,
}

/// Static facts about an API call.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// `eventSource`.
    pub source: &'static str,
    /// `eventName`.
    pub name: &'static str,
    /// The IAM action, as error messages name it.
    pub action: &'static str,
    /// `readOnly`.
    pub read_only: bool,
    /// A data event (S3 object calls) rather than a management event.
    pub data: bool,
    /// Logged in `us-east-1` whatever region the caller is in.
    pub global: bool,
}

const fn spec(
    source: &'static str,
    name: &'static str,
    action: &'static str,
    read_only: bool,
) -> Spec {
    Spec {
        source,
        name,
        action,
        read_only,
        data: false,
        global: false,
    }
}

const fn data(s: Spec) -> Spec {
    Spec { data: true, ..s }
}

const fn global(s: Spec) -> Spec {
    Spec { global: true, ..s }
}

const S3: &str = "s3.amazonaws.com";
const STS: &str = "sts.amazonaws.com";
const KMS: &str = "kms.amazonaws.com";
const EC2: &str = "ec2.amazonaws.com";
const SSM: &str = "ssm.amazonaws.com";
const IAM: &str = "iam.amazonaws.com";

impl Api {
    /// The call's static facts.
    pub fn spec(self) -> Spec {
        use Api::*;
        match self {
            S3GetObject => data(spec(S3, "GetObject", "s3:GetObject", true)),
            S3PutObject => data(spec(S3, "PutObject", "s3:PutObject", false)),
            S3ListObjects => data(spec(S3, "ListObjects", "s3:ListBucket", true)),
            S3HeadObject => data(spec(S3, "HeadObject", "s3:GetObject", true)),
            S3HeadBucket => data(spec(S3, "HeadBucket", "s3:ListBucket", true)),
            S3ListBuckets => global(spec(S3, "ListBuckets", "s3:ListAllMyBuckets", true)),
            S3GetBucketAcl => spec(S3, "GetBucketAcl", "s3:GetBucketAcl", true),
            StsGetCallerIdentity => spec(STS, "GetCallerIdentity", "sts:GetCallerIdentity", true),
            StsAssumeRole | StsAssumeRoleForInstance | StsAssumeRoleForService => {
                spec(STS, "AssumeRole", "sts:AssumeRole", true)
            }
            StsGetFederationToken => {
                spec(STS, "GetFederationToken", "sts:GetFederationToken", true)
            }
            KmsDecrypt => spec(KMS, "Decrypt", "kms:Decrypt", true),
            KmsGenerateDataKey => spec(KMS, "GenerateDataKey", "kms:GenerateDataKey", true),
            Ec2DescribeInstances => spec(EC2, "DescribeInstances", "ec2:DescribeInstances", true),
            Ec2DescribeVolumes => spec(EC2, "DescribeVolumes", "ec2:DescribeVolumes", true),
            Ec2DescribeSecurityGroups => spec(
                EC2,
                "DescribeSecurityGroups",
                "ec2:DescribeSecurityGroups",
                true,
            ),
            Ec2DescribeTags => spec(EC2, "DescribeTags", "ec2:DescribeTags", true),
            Ec2DescribeNetworkInterfaces => spec(
                EC2,
                "DescribeNetworkInterfaces",
                "ec2:DescribeNetworkInterfaces",
                true,
            ),
            Ec2DescribeRegions => spec(EC2, "DescribeRegions", "ec2:DescribeRegions", true),
            Ec2DescribeSnapshots => spec(EC2, "DescribeSnapshots", "ec2:DescribeSnapshots", true),
            Ec2CreateTags => spec(EC2, "CreateTags", "ec2:CreateTags", false),
            Ec2AssociateAddress => spec(EC2, "AssociateAddress", "ec2:AssociateAddress", false),
            Ec2GetPasswordData => spec(EC2, "GetPasswordData", "ec2:GetPasswordData", true),
            SsmUpdateInstanceInformation => spec(
                SSM,
                "UpdateInstanceInformation",
                "ssm:UpdateInstanceInformation",
                false,
            ),
            SsmListInstanceAssociations => spec(
                SSM,
                "ListInstanceAssociations",
                "ssm:ListInstanceAssociations",
                true,
            ),
            SsmGetParameter => spec(SSM, "GetParameter", "ssm:GetParameter", true),
            SecretsGetSecretValue => spec(
                "secretsmanager.amazonaws.com",
                "GetSecretValue",
                "secretsmanager:GetSecretValue",
                true,
            ),
            SecretsListSecrets => spec(
                "secretsmanager.amazonaws.com",
                "ListSecrets",
                "secretsmanager:ListSecrets",
                true,
            ),
            LogsCreateLogStream => spec(
                "logs.amazonaws.com",
                "CreateLogStream",
                "logs:CreateLogStream",
                false,
            ),
            LogsDescribeLogGroups => spec(
                "logs.amazonaws.com",
                "DescribeLogGroups",
                "logs:DescribeLogGroups",
                true,
            ),
            DynamoDescribeTable => spec(
                "dynamodb.amazonaws.com",
                "DescribeTable",
                "dynamodb:DescribeTable",
                true,
            ),
            EcrGetAuthorizationToken => spec(
                "ecr.amazonaws.com",
                "GetAuthorizationToken",
                "ecr:GetAuthorizationToken",
                true,
            ),
            IamGetUser => global(spec(IAM, "GetUser", "iam:GetUser", true)),
            IamListUsers => global(spec(IAM, "ListUsers", "iam:ListUsers", true)),
            IamListRoles => global(spec(IAM, "ListRoles", "iam:ListRoles", true)),
            IamListAttachedUserPolicies => global(spec(
                IAM,
                "ListAttachedUserPolicies",
                "iam:ListAttachedUserPolicies",
                true,
            )),
            IamListUserPolicies => {
                global(spec(IAM, "ListUserPolicies", "iam:ListUserPolicies", true))
            }
            IamGetAccessKeyLastUsed => global(spec(
                IAM,
                "GetAccessKeyLastUsed",
                "iam:GetAccessKeyLastUsed",
                true,
            )),
            IamCreateUser => global(spec(IAM, "CreateUser", "iam:CreateUser", false)),
            IamCreateAccessKey => {
                global(spec(IAM, "CreateAccessKey", "iam:CreateAccessKey", false))
            }
            IamPutUserPolicy => global(spec(IAM, "PutUserPolicy", "iam:PutUserPolicy", false)),
            LambdaListFunctions => spec(
                "lambda.amazonaws.com",
                "ListFunctions20150331",
                "lambda:ListFunctions",
                true,
            ),
            SnsListTopics => spec("sns.amazonaws.com", "ListTopics", "SNS:ListTopics", true),
            ConsoleLogin => global(spec("signin.amazonaws.com", "ConsoleLogin", "", false)),
            CfnDescribeStacks => spec(
                "cloudformation.amazonaws.com",
                "DescribeStacks",
                "cloudformation:DescribeStacks",
                true,
            ),
            AutoScalingDescribeGroups => spec(
                "autoscaling.amazonaws.com",
                "DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingGroups",
                true,
            ),
            ElbDescribeTargetHealth => spec(
                "elasticloadbalancing.amazonaws.com",
                "DescribeTargetHealth",
                "elasticloadbalancing:DescribeTargetHealth",
                true,
            ),
            CloudTrailDescribeTrails => spec(
                "cloudtrail.amazonaws.com",
                "DescribeTrails",
                "cloudtrail:DescribeTrails",
                true,
            ),
        }
    }

    /// True for the calls a VPC endpoint carries when the instance has them.
    pub fn via_endpoint(self) -> bool {
        matches!(
            self.spec().source,
            "s3.amazonaws.com"
                | "kms.amazonaws.com"
                | "ssm.amazonaws.com"
                | "secretsmanager.amazonaws.com"
        ) && self != Api::S3ListBuckets
    }

    /// `eventVersion` as the service writes it.
    pub fn event_version(self) -> &'static str {
        match self.spec().source {
            "s3.amazonaws.com" | "ec2.amazonaws.com" => "1.10",
            "sts.amazonaws.com" | "iam.amazonaws.com" | "kms.amazonaws.com" => "1.08",
            "signin.amazonaws.com" | "lambda.amazonaws.com" => "1.09",
            _ => "1.11",
        }
    }
}

/// The facts of one call that several parts of the record repeat (the bucket in the request,
/// the resources and the TLS host header).
pub struct Picks {
    bucket: usize,
    key: String,
    kms: usize,
    secret: usize,
    parameter: usize,
    table: usize,
    log_group: usize,
    stack: usize,
}

impl Picks {
    /// Draws the call's subjects.
    pub fn draw(api: Api, account: &Account, rng: &mut impl Rng) -> Picks {
        let bucket = rng.random_range(0..account.buckets.len());
        let key = match api {
            Api::S3GetObject | Api::S3PutObject | Api::S3HeadObject => object_key(bucket, rng),
            Api::S3ListObjects => ["", "data/", "uploads/", "releases/", "AWSLogs/"]
                .choose(rng)
                .map_or(String::new(), |s| (*s).to_owned()),
            _ => String::new(),
        };
        Picks {
            bucket,
            key,
            kms: rng.random_range(0..account.kms_keys.len()),
            secret: rng.random_range(0..account.secrets.len()),
            parameter: rng.random_range(0..account.parameters.len()),
            table: rng.random_range(0..account.tables.len()),
            log_group: rng.random_range(0..account.log_groups.len()),
            stack: rng.random_range(0..account.stacks.len()),
        }
    }
}

fn object_key(bucket: usize, rng: &mut impl Rng) -> String {
    match bucket % 6 {
        0 => format!(
            "static/{}/{}.{}",
            ids::hex(rng, 8),
            ["app", "vendor", "main", "chunk"][rng.random_range(0..4)],
            ["js", "css", "woff2"][rng.random_range(0..3)]
        ),
        1 => format!("uploads/{}/{}.jpg", ids::uuid(rng), ids::hex(rng, 6)),
        2 => format!(
            "releases/web-frontend/1.{}.{}/web-frontend-1.{}.{}.tar.gz",
            rng.random_range(30..48),
            rng.random_range(0..9),
            rng.random_range(30..48),
            rng.random_range(0..9)
        ),
        3 => format!(
            "app/2025/{:02}/{:02}/{}.log.gz",
            rng.random_range(1..13),
            rng.random_range(1..29),
            ids::uuid(rng)
        ),
        4 => format!(
            "raw/events/dt=2025-{:02}-{:02}/part-{:05}-{}.snappy.parquet",
            rng.random_range(1..13),
            rng.random_range(1..29),
            rng.random_range(0..400),
            ids::uuid(rng)
        ),
        _ => format!(
            "pg/main/base/{}/{:08X}",
            ids::hex(rng, 8),
            rng.random::<u32>()
        ),
    }
}

/// What the record needs to know about the call besides the planned event.
pub struct Ctx<'a> {
    /// The organisation.
    pub world: &'a World,
    /// The planned event.
    pub event: &'a Event,
    /// The account whose trail records it.
    pub account: &'a Account,
    /// `awsRegion`.
    pub region: &'static str,
    /// The caller's ARN.
    pub arn: Option<&'a str>,
}

/// `tlsDetails.clientProvidedHostHeader`.
pub fn host_header(c: &Ctx<'_>, p: &Picks) -> String {
    let spec = c.event.api.spec();
    match spec.source {
        "s3.amazonaws.com" if c.event.api == Api::S3ListBuckets => {
            format!("s3.{}.amazonaws.com", c.region)
        }
        "s3.amazonaws.com" => format!(
            "{}.s3.{}.amazonaws.com",
            c.account.buckets[p.bucket], c.region
        ),
        "iam.amazonaws.com" => "iam.amazonaws.com".to_owned(),
        "sts.amazonaws.com" if c.region == "us-east-1" => "sts.amazonaws.com".to_owned(),
        "signin.amazonaws.com" => "signin.aws.amazon.com".to_owned(),
        source => {
            let service = source.trim_end_matches(".amazonaws.com");
            format!("{service}.{}.amazonaws.com", c.region)
        }
    }
}

fn session_token(rng: &mut impl Rng) -> String {
    format!("IQoJb3JpZ2luX2VjE{}", ids::base64(rng, 380))
}

fn kms_arn(c: &Ctx<'_>, p: &Picks) -> String {
    format!(
        "arn:aws:kms:{}:{}:key/{}",
        c.region, c.account.id, c.account.kms_keys[p.kms]
    )
}

fn filter_by_instance(o: &mut Obj<'_>, name: &str, instance: &str) {
    o.obj("filterSet", |o| {
        o.arr("items", |a| {
            a.obj(|o| {
                o.str("name", name).obj("valueSet", |o| {
                    o.arr("items", |a| {
                        a.obj(|o| {
                            o.str("value", instance);
                        });
                    });
                });
            });
        });
    });
}

fn subject_instance(c: &Ctx<'_>, rng: &mut impl Rng) -> String {
    match c.event.actor {
        Actor::Instance(i) => c.world.instances[i as usize].id.clone(),
        _ => ids::instance_id(rng),
    }
}

fn s3_additional(o: &mut Obj<'_>, rng: &mut impl Rng, bytes_in: u64, bytes_out: u64) {
    o.obj("additionalEventData", |o| {
        o.str("SignatureVersion", "SigV4")
            .str("CipherSuite", "TLS_AES_128_GCM_SHA256")
            .num("bytesTransferredIn", bytes_in)
            .str("AuthenticationMethod", "AuthHeader")
            .str("x-amz-id-2", &ids::base64(rng, 76))
            .num("bytesTransferredOut", bytes_out);
    });
}

fn credentials(o: &mut Obj<'_>, key: &str, expires: i64, rng: &mut impl Rng) {
    o.obj("credentials", |o| {
        o.str("accessKeyId", key)
            .str("sessionToken", &session_token(rng))
            .str("expiration", &ids::expiration(expires));
    });
}

/// Writes `requestParameters`, `responseElements` and `additionalEventData`.
pub fn write_body(c: &Ctx<'_>, p: &Picks, rng: &mut impl Rng, o: &mut Obj<'_>) {
    use Api::*;
    let ok = c.event.outcome == Outcome::Ok;
    let w = c.world;
    let bucket = c.account.buckets[p.bucket].as_str();
    let t = c.event.time;
    match c.event.api {
        S3GetObject | S3HeadObject | S3PutObject => {
            o.obj("requestParameters", |o| {
                o.str("bucketName", bucket)
                    .str("Host", &host_header(c, p))
                    .str("key", &p.key);
                if c.event.api == S3PutObject {
                    o.str("x-amz-server-side-encryption", "aws:kms").str(
                        "x-amz-server-side-encryption-aws-kms-key-id",
                        &kms_arn(c, p),
                    );
                }
            });
            if c.event.api == S3PutObject && ok {
                o.obj("responseElements", |o| {
                    o.str("x-amz-server-side-encryption", "aws:kms")
                        .str(
                            "x-amz-server-side-encryption-aws-kms-key-id",
                            &kms_arn(c, p),
                        )
                        .str("x-amz-server-side-encryption-bucket-key-enabled", "true");
                });
            } else {
                o.null("responseElements");
            }
            let size = rng.random_range(200..4_000_000);
            match (c.event.api, ok) {
                (S3PutObject, _) => s3_additional(o, rng, size, 0),
                (S3GetObject, true) => s3_additional(o, rng, 0, size),
                _ => s3_additional(o, rng, 0, 0),
            }
        }
        S3ListObjects => {
            o.obj("requestParameters", |o| {
                o.str("list-type", "2")
                    .str("bucketName", bucket)
                    .str("encoding-type", "url")
                    .str("max-keys", "1000")
                    .str("prefix", &p.key)
                    .str("Host", &host_header(c, p));
            })
            .null("responseElements");
            let out = if ok { rng.random_range(400..60_000) } else { 0 };
            s3_additional(o, rng, 0, out);
        }
        S3HeadBucket | S3GetBucketAcl => {
            o.obj("requestParameters", |o| {
                o.str("bucketName", bucket).str("Host", &host_header(c, p));
                if c.event.api == S3GetBucketAcl {
                    o.str("acl", "");
                }
            })
            .null("responseElements");
            s3_additional(o, rng, 0, if ok { 540 } else { 0 });
        }
        S3ListBuckets => {
            o.obj("requestParameters", |o| {
                o.str("Host", &host_header(c, p));
            })
            .null("responseElements");
            s3_additional(o, rng, 0, if ok { 2_410 } else { 0 });
        }
        StsGetCallerIdentity => {
            o.null("requestParameters").null("responseElements");
        }
        StsAssumeRole => {
            let s = &w.sessions[c.event.arg as usize];
            let role_arn = w.role_arn(s.role);
            o.obj("requestParameters", |o| {
                o.str("roleArn", &role_arn)
                    .str("roleSessionName", &s.name)
                    .num("durationSeconds", 3600);
            });
            if ok {
                let session = Actor::Session(c.event.arg);
                let (key, _) = w.credentials(session, t).unwrap_or_default();
                let arn = w.arn(session).unwrap_or_default();
                o.obj("responseElements", |o| {
                    credentials(o, &key, t + 3600, rng);
                    o.obj("assumedRoleUser", |o| {
                        o.str(
                            "assumedRoleId",
                            &format!("{}:{}", w.roles[s.role].id, s.name),
                        )
                        .str("arn", &arn);
                    });
                });
            } else {
                o.null("responseElements");
            }
        }
        StsAssumeRoleForInstance => {
            let inst = &w.instances[c.event.arg as usize];
            let (key, _) = w
                .credentials(Actor::Instance(c.event.arg), t)
                .unwrap_or_default();
            o.obj("requestParameters", |o| {
                o.str("roleArn", &w.role_arn(inst.role))
                    .str("roleSessionName", &inst.id);
            })
            .obj("responseElements", |o| {
                credentials(o, &key, t + 6 * 3600, rng);
            });
        }
        StsAssumeRoleForService => {
            let s = &w.sessions[c.event.arg as usize];
            let (key, _) = w
                .credentials(Actor::Session(c.event.arg), t)
                .unwrap_or_default();
            o.obj("requestParameters", |o| {
                o.str("roleArn", &w.role_arn(s.role))
                    .str("roleSessionName", &s.name);
            })
            .obj("responseElements", |o| {
                credentials(o, &key, t + 12 * 3600, rng);
            });
        }
        StsGetFederationToken => {
            let f = Actor::Federated(c.event.arg);
            let fed = &w.federated[c.event.arg as usize];
            let (key, _) = w.credentials(f, t).unwrap_or_default();
            o.obj("requestParameters", |o| {
                o.str("name", &fed.name)
                    .num("durationSeconds", 129_600)
                    .str(
                        "policy",
                        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"}]}",
                    );
            })
            .obj("responseElements", |o| {
                credentials(o, &key, t + 129_600, rng);
                o.obj("federatedUser", |o| {
                    o.str(
                        "federatedUserId",
                        &format!("{}:{}", w.accounts[fed.account].id, fed.name),
                    )
                    .str("arn", &w.arn(f).unwrap_or_default());
                })
                .num("packedPolicySize", 6);
            });
        }
        KmsDecrypt | KmsGenerateDataKey => {
            o.obj("requestParameters", |o| {
                if c.event.api == KmsGenerateDataKey {
                    o.str("keyId", &kms_arn(c, p)).str("keySpec", "AES_256");
                } else {
                    o.str("encryptionAlgorithm", "SYMMETRIC_DEFAULT");
                }
                o.obj("encryptionContext", |o| match p.bucket % 3 {
                    0 => {
                        o.str("aws:s3:arn", &format!("arn:aws:s3:::{bucket}"));
                    }
                    1 => {
                        o.str(
                            "SecretARN",
                            &format!(
                                "arn:aws:secretsmanager:{}:{}:secret:{}",
                                c.region, c.account.id, c.account.secrets[p.secret]
                            ),
                        )
                        .str("SecretVersionId", &ids::uuid(rng));
                    }
                    _ => {
                        o.str(
                            "PARAMETER_ARN",
                            &format!(
                                "arn:aws:ssm:{}:{}:parameter{}",
                                c.region, c.account.id, c.account.parameters[p.parameter]
                            ),
                        );
                    }
                });
            })
            .null("responseElements");
        }
        Ec2DescribeInstances => {
            let id = subject_instance(c, rng);
            o.obj("requestParameters", |o| {
                o.obj("instancesSet", |o| {
                    o.arr("items", |a| {
                        a.obj(|o| {
                            o.str("instanceId", &id);
                        });
                    });
                })
                .obj("filterSet", |_| {});
            })
            .null("responseElements");
        }
        Ec2DescribeVolumes | Ec2DescribeTags | Ec2DescribeNetworkInterfaces => {
            let id = subject_instance(c, rng);
            o.obj("requestParameters", |o| match c.event.api {
                Ec2DescribeVolumes => {
                    o.obj("volumeSet", |_| {});
                    filter_by_instance(o, "attachment.instance-id", &id);
                }
                Ec2DescribeTags => filter_by_instance(o, "resource-id", &id),
                _ => {
                    o.obj("networkInterfaceIdSet", |_| {});
                    filter_by_instance(o, "attachment.instance-id", &id);
                }
            })
            .null("responseElements");
        }
        Ec2DescribeSecurityGroups => {
            o.obj("requestParameters", |o| {
                o.obj("securityGroupSet", |o| {
                    o.arr("items", |a| {
                        a.obj(|o| {
                            o.str("groupId", &format!("sg-0{}", ids::hex(rng, 16)));
                        });
                    });
                })
                .obj("securityGroupIdSet", |_| {})
                .obj("filterSet", |_| {});
            })
            .null("responseElements");
        }
        Ec2DescribeRegions => {
            o.obj("requestParameters", |o| {
                o.obj("regionSet", |_| {});
            })
            .null("responseElements");
        }
        Ec2DescribeSnapshots => {
            o.obj("requestParameters", |o| {
                o.obj("snapshotSet", |_| {})
                    .obj("ownersSet", |o| {
                        o.arr("items", |a| {
                            a.obj(|o| {
                                o.str("owner", "self");
                            });
                        });
                    })
                    .obj("sharedUsersSet", |_| {})
                    .obj("filterSet", |_| {});
            })
            .null("responseElements");
        }
        Ec2CreateTags => {
            let id = subject_instance(c, rng);
            o.obj("requestParameters", |o| {
                o.obj("resourcesSet", |o| {
                    o.arr("items", |a| {
                        a.obj(|o| {
                            o.str("resourceId", &id);
                        });
                    });
                })
                .obj("tagSet", |o| {
                    o.arr("items", |a| {
                        a.obj(|o| {
                            o.str("key", "last-deploy").str("value", &ids::hex(rng, 12));
                        });
                    });
                });
            });
            ec2_return(o, ok, rng, None);
        }
        Ec2AssociateAddress => {
            let inst = &w.instances[c.event.arg as usize];
            o.obj("requestParameters", |o| {
                o.str("instanceId", &inst.id)
                    .str("allocationId", &format!("eipalloc-0{}", ids::hex(rng, 16)))
                    .bool("allowReassociation", false);
            });
            let association = format!("eipassoc-0{}", ids::hex(rng, 16));
            ec2_return(o, ok, rng, Some(&association));
        }
        Ec2GetPasswordData => {
            let id = ids::instance_id(rng);
            o.obj("requestParameters", |o| {
                o.str("instanceId", &id);
            })
            .null("responseElements");
        }
        SsmUpdateInstanceInformation | SsmListInstanceAssociations => {
            let inst = match c.event.actor {
                Actor::Instance(i) => Some(&w.instances[i as usize]),
                _ => None,
            };
            let id = inst.map_or_else(|| ids::instance_id(rng), |i| i.id.clone());
            o.obj("requestParameters", |o| {
                o.str("instanceId", &id);
                if c.event.api == SsmListInstanceAssociations {
                    o.num("maxResults", 20);
                    return;
                }
                let private = inst.map_or(world::SourceIp::V4([10, 0, 0, 10]), |i| i.private_ip);
                let private = private.to_string();
                let az = inst.map_or("us-east-1a", |i| i.az.as_str());
                o.str("agentVersion", "3.3.131.0")
                    .str("agentStatus", "Active")
                    .str("platformType", "Linux")
                    .str("platformName", "Amazon Linux")
                    .str("platformVersion", "2023")
                    .str("iPAddress", &private)
                    .str(
                        "computerName",
                        &format!("ip-{}.ec2.internal", private.replace('.', "-")),
                    )
                    .str("agentName", "amazon-ssm-agent")
                    .str("availabilityZone", az)
                    .str(
                        "availabilityZoneId",
                        &format!("{}-az{}", &az[..2], az.len() % 6 + 1),
                    )
                    .str("sSMConnectionChannel", "ssmmessages");
            })
            .null("responseElements");
        }
        SsmGetParameter => {
            o.obj("requestParameters", |o| {
                o.str("name", &c.account.parameters[p.parameter])
                    .bool("withDecryption", p.parameter.is_multiple_of(2));
            })
            .null("responseElements");
        }
        SecretsGetSecretValue => {
            o.obj("requestParameters", |o| {
                o.str(
                    "secretId",
                    &format!(
                        "arn:aws:secretsmanager:{}:{}:secret:{}",
                        c.region, c.account.id, c.account.secrets[p.secret]
                    ),
                );
            })
            .null("responseElements");
        }
        SecretsListSecrets
        | LambdaListFunctions
        | SnsListTopics
        | EcrGetAuthorizationToken
        | IamListUsers
        | IamGetUser => {
            o.null("requestParameters").null("responseElements");
        }
        LogsCreateLogStream => {
            let stream = match c.event.actor {
                Actor::Instance(i) => w.instances[i as usize].id.clone(),
                _ => format!(
                    "{}/[$LATEST]{}",
                    ids::iso(t).get(..10).unwrap_or_default().replace('-', "/"),
                    ids::hex(rng, 32)
                ),
            };
            o.obj("requestParameters", |o| {
                o.str("logGroupName", &c.account.log_groups[p.log_group])
                    .str("logStreamName", &stream);
            })
            .null("responseElements");
        }
        LogsDescribeLogGroups => {
            o.obj("requestParameters", |o| {
                o.num("limit", 50);
            })
            .null("responseElements");
        }
        DynamoDescribeTable => {
            o.obj("requestParameters", |o| {
                o.str("tableName", &c.account.tables[p.table]);
            })
            .null("responseElements");
        }
        IamListRoles => {
            o.obj("requestParameters", |o| {
                o.num("maxItems", 1000);
            })
            .null("responseElements");
        }
        IamListAttachedUserPolicies | IamListUserPolicies => {
            let name = user_name_of(c);
            o.obj("requestParameters", |o| {
                o.str("userName", &name);
            })
            .null("responseElements");
        }
        IamGetAccessKeyLastUsed => {
            let u = &w.users[c.event.arg as usize];
            o.obj("requestParameters", |o| {
                o.str("accessKeyId", &u.key);
            })
            .null("responseElements");
        }
        IamCreateUser => {
            let u = &w.users[c.event.arg as usize];
            o.obj("requestParameters", |o| {
                o.str("userName", &u.name)
                    .str("path", &u.path)
                    .arr("tags", |a| {
                        a.obj(|o| {
                            o.str("key", "cost-center").str("value", "cc-4410");
                        });
                    });
            })
            .obj("responseElements", |o| {
                o.obj("user", |o| {
                    o.str("path", &u.path)
                        .str("userName", &u.name)
                        .str("userId", &u.id)
                        .str("arn", &w.user_arn(c.event.arg as usize))
                        .str("createDate", &ids::expiration(t))
                        .arr("tags", |a| {
                            a.obj(|o| {
                                o.str("key", "cost-center").str("value", "cc-4410");
                            });
                        });
                });
            });
        }
        IamCreateAccessKey => {
            let u = &w.users[c.event.arg as usize];
            o.obj("requestParameters", |o| {
                o.str("userName", &u.name);
            })
            .obj("responseElements", |o| {
                o.obj("accessKey", |o| {
                    o.str("userName", &u.name)
                        .str("accessKeyId", &u.key)
                        .str("status", "Active")
                        .str("createDate", &ids::expiration(t));
                });
            });
        }
        IamPutUserPolicy => {
            let u = &w.users[c.event.arg as usize];
            o.obj("requestParameters", |o| {
                o.str("userName", &u.name)
                    .str("policyName", "default")
                    .str(
                        "policyDocument",
                        "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Deny\", \"Action\": \"*\", \"Resource\": \"*\"}]\n}",
                    );
            })
            .null("responseElements");
        }
        ConsoleLogin => {
            o.null("requestParameters")
                .obj("responseElements", |o| {
                    o.str("ConsoleLogin", "Success");
                })
                .obj("additionalEventData", |o| {
                    o.str("MobileVersion", "No")
                        .str("LoginTo", "https://console.aws.amazon.com/console/home")
                        .str("MFAUsed", "Yes")
                        .str("SessionDuration", "43200");
                });
        }
        CfnDescribeStacks => {
            o.obj("requestParameters", |o| {
                o.str("stackName", &c.account.stacks[p.stack]);
            })
            .null("responseElements");
        }
        AutoScalingDescribeGroups => {
            o.obj("requestParameters", |o| {
                o.num("maxRecords", 100);
            })
            .null("responseElements");
        }
        ElbDescribeTargetHealth => {
            o.obj("requestParameters", |o| {
                o.str(
                    "targetGroupArn",
                    &format!(
                        "arn:aws:elasticloadbalancing:{}:{}:targetgroup/{}-tg/{}",
                        c.region,
                        c.account.id,
                        c.account.stacks[p.stack],
                        ids::hex(rng, 16)
                    ),
                );
            })
            .null("responseElements");
        }
        CloudTrailDescribeTrails => {
            o.obj("requestParameters", |o| {
                o.arr("trailNameList", |_| {})
                    .bool("includeShadowTrails", true);
            })
            .null("responseElements");
        }
    }
}

fn ec2_return(o: &mut Obj<'_>, ok: bool, rng: &mut impl Rng, association: Option<&str>) {
    if ok {
        o.obj("responseElements", |o| {
            o.str("requestId", &ids::uuid(rng)).bool("_return", true);
            o.opt_str("associationId", association);
        });
    } else {
        o.null("responseElements");
    }
}

fn user_name_of(c: &Ctx<'_>) -> String {
    match c.event.actor {
        Actor::User(u) => c.world.users[u as usize].name.clone(),
        _ => "deploy".to_owned(),
    }
}

/// Writes `resources`, for the calls that log them.
pub fn write_resources(c: &Ctx<'_>, p: &Picks, o: &mut Obj<'_>) {
    use Api::*;
    let w = c.world;
    let bucket = &c.account.buckets[p.bucket];
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    match c.event.api {
        S3GetObject | S3PutObject | S3HeadObject => {
            o.arr("resources", |a| {
                a.obj(|o| {
                    o.str("type", "AWS::S3::Object")
                        .str("ARN", &format!("{bucket_arn}/{}", p.key));
                })
                .obj(|o| {
                    o.str("accountId", &c.account.id)
                        .str("type", "AWS::S3::Bucket")
                        .str("ARN", &bucket_arn);
                });
            });
        }
        S3ListObjects => {
            o.arr("resources", |a| {
                a.obj(|o| {
                    o.str("type", "AWS::S3::Object")
                        .str("ARNPrefix", &format!("{bucket_arn}/{}", p.key));
                })
                .obj(|o| {
                    o.str("accountId", &c.account.id)
                        .str("type", "AWS::S3::Bucket")
                        .str("ARN", &bucket_arn);
                });
            });
        }
        S3HeadBucket | S3GetBucketAcl => {
            o.arr("resources", |a| {
                a.obj(|o| {
                    o.str("accountId", &c.account.id)
                        .str("type", "AWS::S3::Bucket")
                        .str("ARN", &bucket_arn);
                });
            });
        }
        StsAssumeRole | StsAssumeRoleForInstance | StsAssumeRoleForService => {
            let role = match c.event.api {
                StsAssumeRoleForInstance => w.instances[c.event.arg as usize].role,
                _ => w.sessions[c.event.arg as usize].role,
            };
            o.arr("resources", |a| {
                a.obj(|o| {
                    o.str("accountId", &w.accounts[w.roles[role].account].id)
                        .str("type", "AWS::IAM::Role")
                        .str("ARN", &w.role_arn(role));
                });
            });
        }
        KmsDecrypt | KmsGenerateDataKey => {
            o.arr("resources", |a| {
                a.obj(|o| {
                    o.str("accountId", &c.account.id)
                        .str("type", "AWS::KMS::Key")
                        .str("ARN", &kms_arn(c, p));
                });
            });
        }
        DynamoDescribeTable => {
            o.arr("resources", |a| {
                a.obj(|o| {
                    o.str("accountId", &c.account.id)
                        .str("type", "AWS::DynamoDB::Table")
                        .str(
                            "ARN",
                            &format!(
                                "arn:aws:dynamodb:{}:{}:table/{}",
                                c.region, c.account.id, c.account.tables[p.table]
                            ),
                        );
                });
            });
        }
        _ => {}
    }
}

/// `errorCode` and `errorMessage` of a failed call.
pub fn error(c: &Ctx<'_>, p: &Picks, rng: &mut impl Rng) -> Option<(&'static str, String)> {
    let spec = c.event.api.spec();
    let arn = c.arn.unwrap_or("anonymous");
    let explicit = c.event.outcome == Outcome::DeniedExplicit;
    let because = if explicit {
        format!("with an explicit deny in an identity-based policy: {arn}")
    } else {
        format!(
            "because no identity-based policy allows the {} action",
            spec.action
        )
    };
    match c.event.outcome {
        Outcome::Ok => None,
        Outcome::Denied | Outcome::DeniedExplicit => Some(match spec.source {
            "ec2.amazonaws.com" => (
                "Client.UnauthorizedOperation",
                format!(
                    "You are not authorized to perform this operation. User: {arn} is not authorized to perform: {} on resource: arn:aws:ec2:{}:{}:instance/* {because}. Encoded authorization failure message: {}",
                    spec.action,
                    c.region,
                    c.account.id,
                    ids::base64(rng, 460).replace(['+', '/'], "_")
                ),
            ),
            "s3.amazonaws.com" => ("AccessDenied", "Access Denied".to_owned()),
            "sns.amazonaws.com" => (
                "AuthorizationError",
                format!(
                    "User: {arn} is not authorized to perform: {} on resource: arn:aws:sns:{}:{}:* {because}",
                    spec.action, c.region, c.account.id
                ),
            ),
            "iam.amazonaws.com" | "sts.amazonaws.com" | "cloudformation.amazonaws.com"
            | "autoscaling.amazonaws.com" | "elasticloadbalancing.amazonaws.com" => (
                "AccessDenied",
                format!(
                    "User: {arn} is not authorized to perform: {} on resource: {} {because}",
                    spec.action,
                    denied_resource(c)
                ),
            ),
            _ => (
                "AccessDeniedException",
                format!(
                    "User: {arn} is not authorized to perform: {} on resource: {} {because}",
                    spec.action,
                    denied_resource(c)
                ),
            ),
        }),
        Outcome::NotFound => Some(match c.event.api {
            Api::S3GetObject | Api::S3HeadObject => {
                ("NoSuchKey", "The specified key does not exist.".to_owned())
            }
            Api::SsmGetParameter => ("ParameterNotFound", String::new()),
            Api::Ec2DescribeInstances => (
                "Client.InvalidInstanceID.NotFound",
                format!("The instance ID '{}' does not exist", ids::instance_id(rng)),
            ),
            Api::DynamoDescribeTable => (
                "ResourceNotFoundException",
                format!(
                    "Requested resource not found: Table: {} not found",
                    c.account.tables[p.table]
                ),
            ),
            _ => (
                "ResourceNotFoundException",
                "The requested resource was not found.".to_owned(),
            ),
        }),
        Outcome::Throttled => Some(match spec.source {
            "ec2.amazonaws.com" => ("Client.RequestLimitExceeded", "Request limit exceeded.".to_owned()),
            _ => ("ThrottlingException", "Rate exceeded".to_owned()),
        }),
    }
}

fn denied_resource(c: &Ctx<'_>) -> String {
    let spec = c.event.api.spec();
    let service = spec
        .action
        .split(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match service.as_str() {
        "iam" => format!("arn:aws:iam::{}:user/", c.account.id),
        "sts" if c.event.api == Api::StsAssumeRole => {
            let s = &c.world.sessions[c.event.arg as usize];
            c.world.role_arn(s.role)
        }
        _ => format!("arn:aws:{service}:{}:{}:*", c.region, c.account.id),
    }
}
