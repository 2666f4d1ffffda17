use connect_hub::Application;
use connect_hub::settings::Settings;
use std::process::ExitCode;

#[actix_web::main]
async fn main() -> ExitCode {
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
    println!();
    println!("  Connect Hub is running on port {}.", app.port());
    println!(
        "  Open the widget with the sandbox:  {base}/widget?jobTypes=transactions&userId=demo-user"
    );
    println!("  Then search \"Sandbox Bank\" and log in with user_good / pass_good.");
    println!();
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("connect-hub: {e}");
            ExitCode::FAILURE
        }
    }
}
