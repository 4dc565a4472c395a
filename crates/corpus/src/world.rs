//! The simulated organisation: accounts and their regions and resources, IAM users, roles and
//! their sessions, EC2 instances, canaries. Everything is drawn once from the seed; the timeline
//! ([`crate::plan`]) then decides who calls what, when, and from where.

use std::fmt;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;

use crate::ids;

/// Regions calls can go to. Index 0 is `us-east-1`, where IAM and global STS calls land.
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ca-central-1",
    "sa-east-1",
];

/// Index of `us-east-1` in [`REGIONS`].
pub const US_EAST_1: u8 = 0;

/// Where a call came from, as CloudTrail writes `sourceIPAddress`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceIp {
    /// An IPv4 address.
    V4([u8; 4]),
    /// An IPv6 address.
    V6([u16; 8]),
    /// An AWS service acting for the caller (`ec2.amazonaws.com`, `AWS Internal`).
    Service(&'static str),
}

impl SourceIp {
    /// True for AWS service names rather than addresses.
    pub fn is_service(self) -> bool {
        matches!(self, SourceIp::Service(_))
    }
}

impl fmt::Display for SourceIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceIp::V4([a, b, c, d]) => write!(f, "{a}.{b}.{c}.{d}"),
            SourceIp::V6(g) => write!(
                f,
                "{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
                g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]
            ),
            SourceIp::Service(s) => f.write_str(s),
        }
    }
}

/// First octets of EC2 and Lambda public addresses.
const AWS_OCTETS: &[u8] = &[3, 13, 15, 18, 34, 35, 44, 52, 54];
/// First octets of office and home connections.
const PEOPLE_OCTETS: &[u8] = &[24, 62, 73, 77, 81, 84, 86, 88, 94, 98, 109, 212, 213, 217];
/// First octets of hosted CI runners.
const CI_OCTETS: &[u8] = &[4, 20, 40, 48, 51];
/// First octets of VPS and proxy ranges attackers come from; disjoint from the rest so that
/// no planted foreign address can collide with an instance's own.
const FOREIGN_OCTETS: &[u8] = &[5, 37, 45, 79, 91, 102, 146, 167, 185, 193, 194, 196];

fn ip_from(rng: &mut impl Rng, octets: &[u8]) -> SourceIp {
    SourceIp::V4([
        *octets.choose(rng).unwrap_or(&3),
        rng.random_range(1..=254),
        rng.random_range(0..=255),
        rng.random_range(1..=254),
    ])
}

/// A public EC2/Lambda address.
pub fn aws_ip(rng: &mut impl Rng) -> SourceIp {
    ip_from(rng, AWS_OCTETS)
}

/// An attacker's address, never one of the organisation's.
pub fn foreign_ip(rng: &mut impl Rng) -> SourceIp {
    ip_from(rng, FOREIGN_OCTETS)
}

/// A hosted CI runner's address.
pub fn ci_ip(rng: &mut impl Rng) -> SourceIp {
    ip_from(rng, CI_OCTETS)
}

fn people_ip(rng: &mut impl Rng) -> SourceIp {
    if rng.random_bool(0.2) {
        let mut g = [0u16; 8];
        g[0] = 0x2a02;
        for x in &mut g[1..] {
            *x = rng.random_range(0x1000..=0xffff);
        }
        SourceIp::V6(g)
    } else {
        ip_from(rng, PEOPLE_OCTETS)
    }
}

/// User agents, by who sends them.
pub mod agents {
    /// Java services.
    pub const JAVA: &[&str] = &[
        "aws-sdk-java/2.25.16 Linux/6.1.79-99.167.amzn2023.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
        "aws-sdk-java/2.25.16 Linux/6.1.79-99.167.amzn2023.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/async http/NettyEty cfg/retry-mode/standard",
    ];
    /// Python workers.
    pub const PYTHON: &[&str] = &[
        "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0-18-cloud-amd64 md/arch#x86_64 lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
        "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0-18-cloud-amd64 md/arch#x86_64 lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69 Resource",
    ];
    /// Spark/Hadoop batch jobs.
    pub const HADOOP: &[&str] = &[
        "aws-sdk-java/1.12.638 Linux/5.10.213-201.855.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS java/17.0.10 scala/2.12.18 vendor/Amazon.com_Inc. cfg/retry-mode/legacy, Hadoop 3.3.6-amzn-3",
    ];
    /// Kubernetes node components.
    pub const K8S: &[&str] = &[
        "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.152.0 amazon-vpc-cni-k8s/v1.18.1",
        "aws-sdk-go/1.51.16 (go1.21.9; linux; amd64) kubelet/v1.29.3-eks-ae9a62a",
        "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/ecr#1.27.3 ecr-credential-provider/v1.29.0",
    ];
    /// The AWS CLI on Linux hosts.
    pub const CLI_LINUX: &[&str] = &[
        "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.167.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/s3.cp",
        "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.167.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/ec2.describe-instances",
    ];
    /// The SSM agent on every instance.
    pub const SSM_AGENT: &str =
        "aws-sdk-go/1.44.260 (go1.21.8; linux; amd64) amazon-ssm-agent/3.3.131.0";
    /// The CloudWatch agent on every instance.
    pub const CW_AGENT: &str = "CWAgent/1.300035.0b589 (go1.22.1; linux; amd64)";
    /// Lambda functions.
    pub const LAMBDA: &[&str] = &[
        "Boto3/1.34.42 md/Botocore#1.34.42 ua/2.0 os/linux#5.10.214-223.866.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.42",
        "aws-sdk-nodejs/3.535.0 ua/2.0 os/linux#5.10.214-223.866.amzn2.x86_64 lang/js md/nodejs#20.12.0 exec-env/AWS_Lambda_nodejs20.x api/dynamodb#3.535.0",
    ];
    /// People at their laptops.
    pub const PEOPLE_CLI: &[&str] = &[
        "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off command/ec2.describe-instances",
        "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off command/s3.ls",
        "aws-cli/2.13.5 Python/3.11.4 Linux/6.5.0-27-generic exe/x86_64.ubuntu.22 prompt/off command/logs.tail",
        "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    ];
    /// People in the console.
    pub const CONSOLE: &[&str] = &[
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "AWS Internal",
    ];
    /// Terraform and deployment pipelines.
    pub const CI: &[&str] = &[
        "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.43.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.152.0",
        "aws-cli/2.15.34 Python/3.11.8 Linux/6.5.0-1017-azure exe/x86_64.ubuntu.22 prompt/off command/ecr.get-login-password",
        "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/ecr#1.27.3 argocd-image-updater/v0.12.2",
    ];
    /// Monitoring integrations polling the APIs.
    pub const MONITORING: &[&str] = &["Datadog/1.0 aws-sdk-go/1.50.38 (go1.21.7; linux; amd64)"];
    /// What attackers send.
    pub const ATTACKER: &[&str] = &[
        "aws-cli/1.18.136 Python/3.8.5 Darwin/19.5.0 botocore/1.17.59",
        "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#6.5.0-kali3-amd64 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.11",
        "aws-sdk-go/1.44.293 (go1.20.5; linux; amd64)",
        "aws-cli/2.9.19 Python/3.9.11 Windows/10 exe/AMD64 prompt/off command/sts.get-caller-identity",
    ];
    /// An attacker-controlled agent full of markup and terminal escapes, which every output
    /// must keep as text.
    pub const HOSTILE: &str = "Mozilla/5.0 \"><img src=x onerror=alert(1)> *bold* <@channel> \u{1b}[2J\u{1b}[31mPWNED\u{7}";
}

/// One member account of the organisation.
#[derive(Debug)]
pub struct Account {
    /// The 12-digit account ID.
    pub id: String,
    /// The account ID as a number, for key minting.
    pub num: u64,
    /// Its name, used in resource names.
    pub name: String,
    /// Regions where it runs workloads; always includes `us-east-1`.
    pub regions: Vec<u8>,
    /// S3 buckets.
    pub buckets: Vec<String>,
    /// KMS key IDs.
    pub kms_keys: Vec<String>,
    /// Secrets Manager secret names (with their random suffix).
    pub secrets: Vec<String>,
    /// SSM parameter names.
    pub parameters: Vec<String>,
    /// DynamoDB tables.
    pub tables: Vec<String>,
    /// CloudWatch log groups.
    pub log_groups: Vec<String>,
    /// CloudFormation stacks.
    pub stacks: Vec<String>,
}

/// An IAM role.
#[derive(Debug)]
pub struct Role {
    /// Owning account (index).
    pub account: usize,
    /// Role name.
    pub name: String,
    /// IAM path, starting and ending with `/`.
    pub path: String,
    /// The role's unique ID (`AROA…`).
    pub id: String,
}

/// What an IAM user is for; decides its traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserClass {
    /// A person with long-term keys.
    Person,
    /// A CI pipeline.
    Ci,
    /// A monitoring integration that polls.
    Monitoring,
    /// A canary: no legitimate traffic at all.
    Canary,
    /// The principal that provisions canaries.
    Provisioner,
}

/// An IAM user with one long-term access key.
#[derive(Debug)]
pub struct User {
    /// Owning account (index).
    pub account: usize,
    /// User name.
    pub name: String,
    /// IAM path, starting and ending with `/`.
    pub path: String,
    /// Unique ID (`AIDA…`).
    pub id: String,
    /// The access key ID (`AKIA…`).
    pub key: String,
    /// Where the user normally calls from.
    pub ips: Vec<SourceIp>,
    /// What the user normally calls with.
    pub agents: &'static [&'static str],
    /// What the user is for.
    pub class: UserClass,
    /// Never given background denials: a planted episode owns its denial count.
    pub quiet: bool,
}

/// Where a role session's calls come from.
#[derive(Debug)]
pub enum Origin {
    /// One of these addresses.
    Fixed(Vec<SourceIp>),
    /// Any public AWS address (Lambda).
    AwsPool,
    /// An AWS service calling with the role (service-linked roles).
    Service(&'static str),
}

/// What a role session is for; decides its traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionClass {
    /// IAM Identity Center sign-in of a person.
    Sso,
    /// A Lambda function's execution role.
    Lambda,
    /// An AWS service using its service-linked role.
    ServiceLinked,
    /// An operator or tool session from `sts:AssumeRole`.
    Operator,
    /// A canary role session.
    Canary,
}

/// A role session (not an EC2 instance's; see [`Instance`]).
#[derive(Debug)]
pub struct Session {
    /// Owning account (index).
    pub account: usize,
    /// The role (index).
    pub role: usize,
    /// `roleSessionName`.
    pub name: String,
    /// Derives the session's rotating keys.
    pub salt: u64,
    /// How long one set of credentials lives before the next session (seconds).
    pub key_period: i64,
    /// Home region.
    pub region: u8,
    /// Where calls come from.
    pub origin: Origin,
    /// What it calls with.
    pub agents: &'static [&'static str],
    /// Signed in through the console.
    pub console: bool,
    /// What the session is for.
    pub class: SessionClass,
    /// Never given background denials.
    pub quiet: bool,
    /// When the corpus holds the `AssumeRole` that started the session: its credentials are
    /// the ones issued then, whenever they are used.
    pub started: Option<i64>,
}

/// What runs on an instance; decides its traffic and user agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum App {
    /// A Java web service.
    Web,
    /// A Python queue worker.
    Worker,
    /// A Spark/Hadoop batch node.
    Batch,
    /// A Kubernetes node.
    K8sNode,
    /// A bastion host where people run the CLI.
    Bastion,
}

impl App {
    /// The app's SDK user agents.
    pub fn agents(self) -> &'static [&'static str] {
        match self {
            App::Web => agents::JAVA,
            App::Worker => agents::PYTHON,
            App::Batch => agents::HADOOP,
            App::K8sNode => agents::K8S,
            App::Bastion => agents::CLI_LINUX,
        }
    }
}

/// An EC2 instance with an instance profile.
#[derive(Debug)]
pub struct Instance {
    /// Owning account (index).
    pub account: usize,
    /// Region (index into [`REGIONS`]).
    pub region: u8,
    /// The instance profile's role (index).
    pub role: usize,
    /// `i-0…`.
    pub id: String,
    /// Availability zone.
    pub az: String,
    /// Its own public address, or its NAT gateway's.
    pub public_ip: SourceIp,
    /// Its private address (seen on calls through VPC endpoints).
    pub private_ip: SourceIp,
    /// Calls S3, KMS, SSM and Secrets Manager through VPC endpoints.
    pub vpce: bool,
    /// Credentials come from IMDSv1 (`ec2RoleDelivery` 1.0).
    pub imds_v1: bool,
    /// Has its own public address (so an Elastic IP can be associated with it).
    pub own_public: bool,
    /// From this time on, calls come from this new address (an Elastic IP association).
    pub ip_switch: Option<(i64, SourceIp)>,
    /// Times of the `AssumeRole` by `ec2.amazonaws.com` that deliver its credentials.
    pub seeds: Vec<i64>,
    /// Derives its rotating keys.
    pub salt: u64,
    /// What runs on it.
    pub app: App,
    /// Relative share of instance traffic.
    pub weight: f64,
    /// Never given background denials.
    pub quiet: bool,
}

impl Instance {
    /// The address the instance calls public endpoints from at time `t`.
    pub fn ip_at(&self, t: i64) -> SourceIp {
        match self.ip_switch {
            Some((at, ip)) if t >= at => ip,
            _ => self.public_ip,
        }
    }
}

/// A federated user (from `sts:GetFederationToken`).
#[derive(Debug)]
pub struct Federated {
    /// Owning account (index).
    pub account: usize,
    /// The federated user's name.
    pub name: String,
    /// The IAM user that called `GetFederationToken` (index).
    pub issuer: usize,
    /// Derives its keys.
    pub salt: u64,
    /// When the corpus holds the `GetFederationToken` that issued the credentials.
    pub issued: Option<i64>,
}

/// Who made a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    /// An IAM user (index).
    User(u32),
    /// A role session (index).
    Session(u32),
    /// An EC2 instance's role session (index).
    Instance(u32),
    /// A federated user (index).
    Federated(u32),
    /// An AWS service principal (`userIdentity.type` AWSService).
    Service(&'static str),
}

/// A canary credential planted somewhere, and what the scanner is told about it.
#[derive(Debug)]
pub struct Canary {
    /// Unique name.
    pub name: String,
    /// The principal whose credentials were planted.
    pub actor: Actor,
    /// Where it was planted.
    pub memo: String,
    /// Free labels.
    pub labels: Vec<(&'static str, String)>,
}

/// The whole simulated organisation.
#[derive(Debug)]
pub struct World {
    /// The organisation ID (`o-…`).
    pub org_id: String,
    /// Trail name (digest object names carry it).
    pub trail: String,
    /// Member accounts.
    pub accounts: Vec<Account>,
    /// IAM roles.
    pub roles: Vec<Role>,
    /// IAM users.
    pub users: Vec<User>,
    /// Role sessions other than instances'.
    pub sessions: Vec<Session>,
    /// EC2 instances.
    pub instances: Vec<Instance>,
    /// Federated users.
    pub federated: Vec<Federated>,
    /// Canaries.
    pub canaries: Vec<Canary>,
    /// VPC endpoint IDs per account and region.
    pub vpce_ids: Vec<Vec<String>>,
}

/// An IAM user canary of the corpus.
struct IamCanary {
    path: &'static str,
    name: &'static str,
    memo: &'static str,
    labels: [(&'static str, &'static str); 2],
}

const IAM_CANARIES: [IamCanary; 4] = [
    IamCanary {
        path: "/svc/",
        name: "billing-export",
        memo: "planted in ~/.aws/credentials on build-07",
        labels: [("owner", "platform"), ("host", "build-07")],
    },
    IamCanary {
        path: "/automation/",
        name: "terraform-state-reader",
        memo: "CI secret TF_STATE_READER in the infra-live repository",
        labels: [("owner", "infra"), ("location", "github:infra-live")],
    },
    IamCanary {
        path: "/",
        name: "backup-sync",
        memo: "env file /etc/backup-sync.env on db-backup-02",
        labels: [("owner", "data"), ("host", "db-backup-02")],
    },
    IamCanary {
        path: "/svc/",
        name: "deploy-artifacts",
        memo: "[deploy] profile in ~/.aws/credentials on jump host jh-01",
        labels: [("owner", "platform"), ("host", "jh-01")],
    },
];

const PEOPLE: &[&str] = &[
    "alice.ng",
    "bruno.keller",
    "chen.wei",
    "dana.okafor",
    "emil.larsen",
    "farah.haddad",
    "gita.rao",
    "hugo.moreau",
    "ines.silva",
    "jonas.berg",
    "kofi.mensah",
    "lena.vogel",
    "marco.rossi",
    "nora.kaplan",
    "omar.aziz",
    "priya.nair",
];

const ACCOUNT_NAMES: &[&str] = &[
    "prod",
    "staging",
    "data-platform",
    "shared-services",
    "sandbox",
    "analytics",
    "payments",
    "dev",
];

const FUNCTIONS: &[&str] = &[
    "image-resizer",
    "order-events-consumer",
    "nightly-report",
    "slack-notifier",
    "cost-export",
    "cognito-post-confirmation",
    "ses-bounce-handler",
    "audit-log-forwarder",
    "report-generator",
];

impl World {
    /// Draws an organisation with `accounts` member accounts and `instances` EC2 instances.
    pub fn build(rng: &mut impl Rng, accounts: usize, instances: usize) -> World {
        let mut w = World {
            org_id: format!("o-{}", ids::alnum(rng, 10).to_ascii_lowercase()),
            trail: "org-trail".to_owned(),
            accounts: Vec::new(),
            roles: Vec::new(),
            users: Vec::new(),
            sessions: Vec::new(),
            instances: Vec::new(),
            federated: Vec::new(),
            canaries: Vec::new(),
            vpce_ids: Vec::new(),
        };
        for i in 0..accounts {
            w.add_account(rng, i);
        }
        for a in 0..accounts {
            w.add_people_and_pipelines(rng, a);
            w.add_functions(rng, a);
            w.add_service_linked(rng, a);
        }
        w.add_instances(rng, instances);
        w.add_canaries(rng);
        w
    }

    fn add_account(&mut self, rng: &mut impl Rng, i: usize) {
        let num = rng.random_range(10_000_000_000u64..1_000_000_000_000);
        let name = match ACCOUNT_NAMES.get(i) {
            Some(n) => (*n).to_owned(),
            None => format!("workload-{i}"),
        };
        let mut regions = vec![US_EAST_1];
        let mut others: Vec<u8> = (1..6).collect();
        others.shuffle(rng);
        let extra = if i == 0 { 3 } else { rng.random_range(1..=2) };
        regions.extend_from_slice(&others[..extra]);
        let short = &name[..name.len().min(8)];
        let buckets = [
            "assets",
            "uploads",
            "artifacts",
            "logs",
            "datalake-raw",
            "backups",
        ]
        .iter()
        .map(|b| format!("nw-{short}-{b}-{num:012}"))
        .collect();
        let kms_keys = (0..3).map(|_| ids::uuid(rng)).collect();
        let secrets = [
            "prod/db/postgres-main",
            "app/stripe-api-key",
            "app/sendgrid",
            "ci/dockerhub-token",
            "rds!cluster-7f3e2a1b",
        ]
        .iter()
        .map(|s| format!("{s}-{}", ids::alnum(rng, 6)))
        .collect();
        let parameters = [
            "/app/config/feature-flags",
            "/app/config/db-host",
            "/cwagent/linux-config",
            "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
            "/app/secrets/jwt-signing-key",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let tables = ["orders", "sessions", "feature-store", "idempotency-keys"]
            .iter()
            .map(|t| format!("{short}-{t}"))
            .collect();
        let log_groups = [
            "/aws/lambda/order-events-consumer",
            "/ecs/api-worker",
            "/var/log/messages",
            "/app/web-frontend",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let stacks = [
            "network-base",
            "web-frontend",
            "data-pipeline",
            "observability",
        ]
        .iter()
        .map(|s| format!("{short}-{s}"))
        .collect();
        self.vpce_ids.push(
            (0..REGIONS.len())
                .map(|_| format!("vpce-0{}", ids::hex(rng, 16)))
                .collect(),
        );
        self.accounts.push(Account {
            id: format!("{num:012}"),
            num,
            name,
            regions,
            buckets,
            kms_keys,
            secrets,
            parameters,
            tables,
            log_groups,
            stacks,
        });
    }

    /// Adds a role and returns its index.
    pub fn add_role(
        &mut self,
        rng: &mut impl Rng,
        account: usize,
        path: &str,
        name: &str,
    ) -> usize {
        let id = ids::unique_id("AROA", self.accounts[account].num, rng);
        self.roles.push(Role {
            account,
            name: name.to_owned(),
            path: path.to_owned(),
            id,
        });
        self.roles.len() - 1
    }

    /// Adds an IAM user and returns its index.
    pub fn add_user(
        &mut self,
        rng: &mut impl Rng,
        account: usize,
        path: &str,
        name: &str,
        class: UserClass,
    ) -> usize {
        let num = self.accounts[account].num;
        let (ips, agents) = match class {
            UserClass::Person => (vec![people_ip(rng), people_ip(rng)], agents::PEOPLE_CLI),
            UserClass::Ci => ((0..6).map(|_| ci_ip(rng)).collect(), agents::CI),
            UserClass::Monitoring => (vec![aws_ip(rng), aws_ip(rng)], agents::MONITORING),
            UserClass::Canary => (Vec::new(), agents::ATTACKER),
            UserClass::Provisioner => (vec![aws_ip(rng)], agents::PYTHON),
        };
        self.users.push(User {
            account,
            name: name.to_owned(),
            path: path.to_owned(),
            id: ids::unique_id("AIDA", num, rng),
            key: ids::key_id("AKIA", num, rng),
            ips,
            agents,
            class,
            quiet: class == UserClass::Canary,
        });
        self.users.len() - 1
    }

    /// Adds a role session and returns its index.
    #[allow(clippy::too_many_arguments)]
    pub fn add_session(
        &mut self,
        rng: &mut impl Rng,
        role: usize,
        name: &str,
        region: u8,
        origin: Origin,
        agents: &'static [&'static str],
        class: SessionClass,
    ) -> usize {
        let key_period = match class {
            SessionClass::Sso => 8 * 3600,
            SessionClass::Lambda => rng.random_range(900..3600),
            _ => 3600,
        };
        self.sessions.push(Session {
            account: self.roles[role].account,
            role,
            name: name.to_owned(),
            salt: rng.random(),
            key_period,
            region,
            origin,
            agents,
            console: class == SessionClass::Sso && rng.random_bool(0.6),
            class,
            quiet: class == SessionClass::Canary,
            started: None,
        });
        self.sessions.len() - 1
    }

    fn add_people_and_pipelines(&mut self, rng: &mut impl Rng, a: usize) {
        let regions = self.accounts[a].regions.clone();
        let sso_roles = [
            ("AdministratorAccess", 0.3),
            ("PowerUserAccess", 0.4),
            ("ReadOnlyAccess", 0.3),
        ]
        .map(|(set, share)| {
            let region = REGIONS[*regions.choose(rng).unwrap_or(&US_EAST_1) as usize];
            let path = format!("/aws-reserved/sso.amazonaws.com/{region}/");
            let name = format!("AWSReservedSSO_{set}_{}", ids::hex(rng, 16));
            (self.add_role(rng, a, &path, &name), share)
        });
        let mut people: Vec<&str> = PEOPLE.to_vec();
        people.shuffle(rng);
        let n_sso = if a == 0 { 12 } else { rng.random_range(4..10) };
        for person in &people[..n_sso] {
            let role = sso_roles
                .choose_weighted(rng, |r| r.1)
                .map_or(sso_roles[0].0, |r| r.0);
            let ips = vec![people_ip(rng), people_ip(rng)];
            let region = *regions.choose(rng).unwrap_or(&US_EAST_1);
            let session = self.add_session(
                rng,
                role,
                &format!("{person}@northwind.example"),
                region,
                Origin::Fixed(ips),
                agents::PEOPLE_CLI,
                SessionClass::Sso,
            );
            if self.sessions[session].console {
                self.sessions[session].agents = agents::CONSOLE;
            }
        }
        // Legacy IAM users with long-term keys: every person in the first account (the
        // planted episodes pick their principals from there), a few elsewhere.
        let n_people = if a == 0 { PEOPLE.len() } else { 3 };
        let mut named: Vec<&str> = PEOPLE.to_vec();
        if a != 0 {
            named.shuffle(rng);
        }
        for person in &named[..n_people] {
            self.add_user(rng, a, "/people/", person, UserClass::Person);
        }
        for ci in ["github-actions", "terraform-ci", "argocd-image-updater"] {
            self.add_user(rng, a, "/ci/", ci, UserClass::Ci);
        }
        self.add_user(
            rng,
            a,
            "/integrations/",
            "datadog-integration",
            UserClass::Monitoring,
        );
    }

    fn add_functions(&mut self, rng: &mut impl Rng, a: usize) {
        let regions = self.accounts[a].regions.clone();
        let n = if a == 0 {
            FUNCTIONS.len()
        } else {
            rng.random_range(3..7)
        };
        for function in &FUNCTIONS[..n] {
            let role_name = format!(
                "{function}-role-{}",
                ids::alnum(rng, 8).to_ascii_lowercase()
            );
            let role = self.add_role(rng, a, "/service-role/", &role_name);
            let region = *regions.choose(rng).unwrap_or(&US_EAST_1);
            self.add_session(
                rng,
                role,
                function,
                region,
                Origin::AwsPool,
                agents::LAMBDA,
                SessionClass::Lambda,
            );
        }
    }

    fn add_service_linked(&mut self, rng: &mut impl Rng, a: usize) {
        for (service, role, session) in [
            (
                "autoscaling.amazonaws.com",
                "AWSServiceRoleForAutoScaling",
                "AutoScaling",
            ),
            (
                "config.amazonaws.com",
                "AWSServiceRoleForConfig",
                "AWSConfig-Describe",
            ),
            (
                "ecs.amazonaws.com",
                "AWSServiceRoleForECS",
                "ecs-service-scheduler",
            ),
        ] {
            let path = format!("/aws-service-role/{service}/");
            let role = self.add_role(rng, a, &path, role);
            let agents: &'static [&'static str] = match service {
                "autoscaling.amazonaws.com" => &["autoscaling.amazonaws.com"],
                "config.amazonaws.com" => &["config.amazonaws.com"],
                _ => &["ecs.amazonaws.com"],
            };
            self.add_session(
                rng,
                role,
                session,
                US_EAST_1,
                Origin::Service(service),
                agents,
                SessionClass::ServiceLinked,
            );
        }
    }

    fn add_instances(&mut self, rng: &mut impl Rng, n: usize) {
        let mut app_roles = Vec::new();
        for a in 0..self.accounts.len() {
            let suffix = ids::base32(rng, 12);
            let mut roles = Vec::new();
            for (app, path, name) in [
                (App::Web, "/".to_owned(), "web-frontend".to_owned()),
                (App::Worker, "/app/".to_owned(), "api-worker".to_owned()),
                (
                    App::Batch,
                    "/service-role/".to_owned(),
                    "batch-etl".to_owned(),
                ),
                (
                    App::K8sNode,
                    "/".to_owned(),
                    format!("eks-nodegroup-NodeInstanceRole-{suffix}"),
                ),
                (App::Bastion, "/".to_owned(), "bastion-host".to_owned()),
            ] {
                roles.push((app, self.add_role(rng, a, &path, &name)));
            }
            app_roles.push(roles);
        }
        let account_weights: Vec<f64> = (0..self.accounts.len())
            .map(|a| if a == 0 { 3.0 } else { 1.0 })
            .collect();
        let mut nat = std::collections::HashMap::new();
        for i in 0..n {
            let a = (0..self.accounts.len())
                .collect::<Vec<_>>()
                .choose_weighted(rng, |&a| account_weights[a])
                .copied()
                .unwrap_or(0);
            let region = *self.accounts[a].regions.choose(rng).unwrap_or(&US_EAST_1);
            let (app, role) = *app_roles[a]
                .choose_weighted(rng, |(app, _)| match app {
                    App::Web => 4.0,
                    App::Worker => 3.0,
                    App::Batch => 1.5,
                    App::K8sNode => 3.0,
                    App::Bastion => 0.3,
                })
                .unwrap_or(&app_roles[a][0]);
            // The first instances of the first account get their own public address: the
            // planted episodes draw from them.
            let own_public = i < 12 || rng.random_bool(0.55);
            let public_ip = if own_public {
                aws_ip(rng)
            } else {
                let nat_ip = *nat
                    .entry((a, region, rng.random_range(0..2)))
                    .or_insert_with(|| aws_ip(rng));
                nat_ip
            };
            let private_ip = SourceIp::V4([
                10,
                (a * 16 + region as usize) as u8,
                rng.random_range(0..=255),
                rng.random_range(4..=254),
            ]);
            let az = format!(
                "{}{}",
                REGIONS[region as usize],
                ['a', 'b', 'c'][rng.random_range(0..3)]
            );
            let weight = 1.0 / (1.0 + rng.random::<f64>() * 6.0);
            self.instances.push(Instance {
                account: a,
                region,
                role,
                id: ids::instance_id(rng),
                az,
                public_ip,
                private_ip,
                vpce: rng.random_bool(0.35),
                imds_v1: rng.random_bool(0.15),
                own_public,
                ip_switch: None,
                seeds: Vec::new(),
                salt: rng.random(),
                app,
                weight,
                quiet: false,
            });
        }
    }

    fn add_canaries(&mut self, rng: &mut impl Rng) {
        let a = self.accounts.len() - 1;
        let provisioner = self.add_user(rng, a, "/svc/", "svc-provisioner", UserClass::Provisioner);
        for spec in IAM_CANARIES {
            let user = self.add_user(rng, a, spec.path, spec.name, UserClass::Canary);
            self.canaries.push(Canary {
                name: spec.name.to_owned(),
                actor: Actor::User(user as u32),
                memo: spec.memo.to_owned(),
                labels: spec
                    .labels
                    .iter()
                    .map(|&(k, v)| (k, v.to_owned()))
                    .collect(),
            });
        }
        self.federated.push(Federated {
            account: a,
            name: "ci-cache".to_owned(),
            issuer: provisioner,
            salt: rng.random(),
            issued: None,
        });
        self.canaries.push(Canary {
            name: "ci-cache".to_owned(),
            actor: Actor::Federated(0),
            memo: "36 h federation token baked into the cache-warmer runner image".to_owned(),
            labels: vec![
                ("owner", "ci".to_owned()),
                ("location", "runner-image:cache-warmer".to_owned()),
            ],
        });
        let role = self.add_role(rng, a, "/", "ops-readonly");
        let session = self.add_session(
            rng,
            role,
            "jenkins-07",
            US_EAST_1,
            Origin::Fixed(Vec::new()),
            agents::ATTACKER,
            SessionClass::Canary,
        );
        self.canaries.push(Canary {
            name: "jenkins-ops-session".to_owned(),
            actor: Actor::Session(session as u32),
            memo: "role session credentials in the Jenkins credential store on jenkins-07"
                .to_owned(),
            labels: vec![
                ("owner", "ci".to_owned()),
                ("host", "jenkins-07".to_owned()),
            ],
        });
    }

    /// The account an actor belongs to, if it has one.
    pub fn account_of(&self, actor: Actor) -> Option<usize> {
        match actor {
            Actor::User(u) => Some(self.users[u as usize].account),
            Actor::Session(s) => Some(self.sessions[s as usize].account),
            Actor::Instance(i) => Some(self.instances[i as usize].account),
            Actor::Federated(f) => Some(self.federated[f as usize].account),
            Actor::Service(_) => None,
        }
    }

    /// A role's ARN (with its path).
    pub fn role_arn(&self, role: usize) -> String {
        let r = &self.roles[role];
        format!(
            "arn:aws:iam::{}:role{}{}",
            self.accounts[r.account].id, r.path, r.name
        )
    }

    /// A user's ARN (with its path).
    pub fn user_arn(&self, user: usize) -> String {
        let u = &self.users[user];
        format!(
            "arn:aws:iam::{}:user{}{}",
            self.accounts[u.account].id, u.path, u.name
        )
    }

    fn session_arn(&self, account: usize, role: usize, session: &str) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            self.accounts[account].id, self.roles[role].name, session
        )
    }

    /// `userIdentity.arn` of an actor (none for AWS services).
    pub fn arn(&self, actor: Actor) -> Option<String> {
        Some(match actor {
            Actor::User(u) => self.user_arn(u as usize),
            Actor::Session(s) => {
                let s = &self.sessions[s as usize];
                self.session_arn(s.account, s.role, &s.name)
            }
            Actor::Instance(i) => {
                let i = &self.instances[i as usize];
                self.session_arn(i.account, i.role, &i.id)
            }
            Actor::Federated(f) => {
                let f = &self.federated[f as usize];
                format!(
                    "arn:aws:sts::{}:federated-user/{}",
                    self.accounts[f.account].id, f.name
                )
            }
            Actor::Service(_) => return None,
        })
    }

    /// The credentials an actor signs with at `t`: access key ID and when the session began.
    /// `key_time` picks the credentials current at another time (a stolen key stays in use
    /// after the instance has moved on to fresh ones).
    pub fn credentials(&self, actor: Actor, key_time: i64) -> Option<(String, i64)> {
        match actor {
            Actor::User(u) => Some((self.users[u as usize].key.clone(), 0)),
            Actor::Session(s) => {
                let s = &self.sessions[s as usize];
                let account = self.accounts[s.account].num;
                Some(match s.started {
                    Some(at) if at <= key_time => (fixed_key(s.salt, account), at),
                    _ => rotating_key(s.salt, s.key_period, key_time, account),
                })
            }
            Actor::Federated(f) => {
                let f = &self.federated[f as usize];
                let account = self.accounts[f.account].num;
                Some(match f.issued {
                    Some(at) if at <= key_time => (fixed_key(f.salt, account), at),
                    _ => rotating_key(f.salt, 36 * 3600, key_time, account),
                })
            }
            Actor::Instance(i) => {
                let inst = &self.instances[i as usize];
                let epoch = inst.seeds.partition_point(|&s| s <= key_time);
                let created = match epoch {
                    0 => inst.seeds.first().map_or(key_time, |s| s - 3600),
                    e => inst.seeds[e - 1],
                };
                Some((
                    instance_key(inst.salt, epoch, self.accounts[inst.account].num),
                    created,
                ))
            }
            Actor::Service(_) => None,
        }
    }
}

/// The key an instance receives with its `epoch`-th credential delivery (0 is the one it held
/// before the corpus starts).
pub fn instance_key(salt: u64, epoch: usize, account: u64) -> String {
    ids::key_id("ASIA", account, &mut ids::rng_for(salt, epoch as u64))
}

/// The key issued by the one `AssumeRole` or `GetFederationToken` the corpus records.
fn fixed_key(salt: u64, account: u64) -> String {
    ids::key_id("ASIA", account, &mut ids::rng_for(salt, u64::MAX))
}

fn rotating_key(salt: u64, period: i64, t: i64, account: u64) -> (String, i64) {
    let phase = (salt % period as u64) as i64;
    let epoch = (t + phase).div_euclid(period);
    let key = ids::key_id("ASIA", account, &mut ids::rng_for(salt, epoch as u64));
    (key, epoch * period - phase)
}
