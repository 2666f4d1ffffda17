use connect_hub::Application;
use connect_hub::settings::Settings;
use std::process::ExitCode;

const USAGE: &str = "usage: connect-hub              run the hub (config: config/default.toml, env)
       connect-hub hash-api-key KEY   print the sha256 hash to put in auth.*.api_key_hashes
       connect-hub print-config       print the embedded default configuration";

#[actix_web::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {}
        ["hash-api-key", key] => {
            println!("{}", hub_web::auth::hash_api_key(key));
            return ExitCode::SUCCESS;
        }
        ["print-config"] => {
            print!("{}", connect_hub::settings::DEFAULT_CONFIG);
            return ExitCode::SUCCESS;
        }
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("connect-hub: {e}");
            return ExitCode::from(2);
        }
    };
    connect_hub::telemetry::init(&settings.log);
    let base = settings.web.base_url().to_owned();
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("Invalid config, unable to start server: {e}");
            eprintln!("connect-hub: {e}");
            return ExitCode::from(2);
        }
    };
    let demo = app.state().settings().demo;
    println!();
    println!("  Connect Hub is running on port {}.", app.port());
    if demo {
        println!(
            "  Try it: open {base}/demo, press Start, pick \"Sandbox Bank\", log in with user_good / pass_good."
        );
    } else {
        println!("  Widget (sandbox): {base}/widget?jobTypes=transactions&userId=demo-user");
    }
    println!();
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("connect-hub: {e}");
            ExitCode::FAILURE
        }
    }
}
