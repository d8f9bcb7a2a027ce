//! The sign-in verbs' arguments (clap) and entry points, called from `main.rs`: `login`,
//! `credentials`, `profiles`, `console`, `logout`, `whoami`.
//!
//! Invariants: each entry point resolves the environment once ([`Env::from_process`]), reads the
//! time through the system [`crate::clock::Clock`] only here (the modules below take it
//! injected), prints what the verb produces on stdout and everything for the person on stderr, and
//! turns any failure into one `fedbroker: …` line on stderr and exit status 1.

use crate::cli::broker_client::{BrokerClient, BrokerUrl};
use crate::cli::state::Env;
use crate::cli::{browser, console, credentials, login, profiles, whoami};
use crate::clock::SystemClock;
use std::future::Future;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The broker's URL (https; plain http only for a broker on this machine).
    #[arg(long)]
    pub broker: String,
    /// Sign in with a code on any browser (for a machine without one, e.g. over SSH).
    #[arg(long)]
    pub device: bool,
    /// Print the sign-in URL instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
}

#[derive(Debug, clap::Args)]
pub struct CredentialsArgs {
    #[arg(long)]
    pub broker: String,
    /// The role: its ARN or its alias.
    #[arg(long, value_name = "ARN|ALIAS")]
    pub role: String,
    /// Requested credential lifetime in seconds (the broker may shorten it).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<u32>,
}

#[derive(Debug, clap::Args)]
pub struct ProfilesArgs {
    #[arg(long)]
    pub broker: String,
    /// Write them into $AWS_CONFIG_FILE (default ~/.aws/config) inside a block this command owns.
    #[arg(long)]
    pub write: bool,
    /// Put this before every profile name.
    #[arg(long, default_value = "")]
    pub prefix: String,
}

#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    #[arg(long)]
    pub broker: String,
    #[arg(long, value_name = "ARN|ALIAS")]
    pub role: String,
    /// Print the console sign-in URL instead of opening it.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, clap::Args)]
pub struct BrokerArg {
    /// The broker (default: every broker with a session).
    #[arg(long)]
    pub broker: Option<String>,
}

/// Run one verb: environment, runtime, then `f`; a failure is one line on stderr, exit 1.
fn run<F, Fut>(f: F) -> ExitCode
where
    F: FnOnce(Env) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let result = (|| {
        let env = Env::from_process().ok_or_else(|| {
            "cannot find the configuration directory: set HOME or XDG_CONFIG_HOME".to_string()
        })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        rt.block_on(f(env))
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fedbroker: {e}");
            ExitCode::from(1)
        }
    }
}

fn client(broker: &str) -> Result<BrokerClient, String> {
    BrokerClient::new(BrokerUrl::parse(broker)?)
}

pub fn login(args: LoginArgs) -> ExitCode {
    run(|env| async move {
        let client = client(&args.broker)?;
        let stored = if args.device {
            login::device(
                &env,
                &client,
                &SystemClock,
                |text| eprintln!("{text}"),
                std::time::Duration::from_secs(1),
            )
            .await?
        } else {
            let browser = env.browser.clone();
            let show = |url: &str| {
                if !args.no_browser && browser::open(browser.as_deref(), url) {
                    eprintln!(
                        "Opened the browser to sign in. If it did not open, visit:\n\n    {url}\n"
                    );
                } else {
                    eprintln!("To sign in, open this address in a browser on this machine:\n\n    {url}\n");
                }
                eprintln!("Waiting for the browser to come back…");
            };
            login::loopback(&env, &client, &SystemClock, show, login::LOOPBACK_TIMEOUT).await?
        };
        eprintln!("{}", login::signed_in_message(&client, &stored));
        Ok(())
    })
}

pub fn credentials(args: CredentialsArgs) -> ExitCode {
    run(|env| async move {
        let client = client(&args.broker)?;
        let c = credentials::get(&env, &client, &SystemClock, &args.role, args.duration)
            .await
            .map_err(|e| e.message(client.broker()))?;
        println!("{}", credentials::render(&c));
        Ok(())
    })
}

pub fn profiles(args: ProfilesArgs) -> ExitCode {
    run(|env| async move {
        let client = client(&args.broker)?;
        let answer = whoami::roles(&env, &client, &SystemClock)
            .await
            .map_err(|e| e.message(client.broker()))?;
        let exe = std::env::current_exe()
            .and_then(std::fs::canonicalize)
            .map_err(|e| format!("cannot find this program's path: {e}"))?;
        let exe = exe.to_string_lossy();
        let list = profiles::profiles(&args.prefix, &answer.roles);
        if !args.write {
            print!(
                "{}",
                profiles::render_profiles(client.broker(), &exe, &list)
            );
            return Ok(());
        }
        let block = profiles::render_block(client.broker(), &exe, &list);
        profiles::write_block(&env.aws_config_file, client.broker(), &block)?;
        eprintln!(
            "Wrote {} profile(s) for {} into {}: {}",
            list.len(),
            client.broker(),
            env.aws_config_file.display(),
            list.iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    })
}

pub fn console(args: ConsoleArgs) -> ExitCode {
    run(|env| async move {
        let client = client(&args.broker)?;
        let url = console::url(&env, &client, &SystemClock, &args.role)
            .await
            .map_err(|e| e.message(client.broker()))?;
        if args.print || !browser::open(env.browser.as_deref(), url.expose()) {
            println!("{}", url.expose());
        } else {
            eprintln!("Opened the AWS console in the browser.");
        }
        Ok(())
    })
}

pub fn logout(args: BrokerArg) -> ExitCode {
    run(|env| async move {
        let brokers = whoami::brokers(&env, args.broker.as_deref())?;
        if brokers.is_empty() {
            eprintln!("not signed in to any broker");
        }
        for b in brokers {
            let client = BrokerClient::new(b)?;
            eprintln!("{}", whoami::logout(&env, &client).await?);
        }
        Ok(())
    })
}

pub fn whoami(args: BrokerArg) -> ExitCode {
    run(|env| async move {
        let brokers = whoami::brokers(&env, args.broker.as_deref())?;
        if brokers.is_empty() {
            return Err("not signed in to any broker: run `fedbroker login --broker URL`".into());
        }
        let mut failed = None;
        for (i, b) in brokers.into_iter().enumerate() {
            let client = BrokerClient::new(b)?;
            if i > 0 {
                println!();
            }
            match whoami::roles(&env, &client, &SystemClock).await {
                Ok(a) => print!("{}", whoami::describe(client.broker(), &a)),
                Err(e) => failed = Some(e.message(client.broker())),
            }
        }
        failed.map_or(Ok(()), Err)
    })
}
