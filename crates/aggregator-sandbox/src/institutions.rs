//! The sandbox's test banks and how each one behaves.

use hub_core::aggregator::{AggregatorInstitution, CredentialField, FieldKind, LoginForm};
use hub_core::institution::{AggregatorBlocks, AggregatorSupport, Institution};

/// The institution block key and aggregator id.
pub const SANDBOX_ID: &str = "sandbox";

/// The web address every sandbox bank claims (`.invalid` never resolves).
pub const SANDBOX_BANK_URL: &str = "https://sandbox.connect-hub.invalid";

/// The routing number of the sandbox accounts (a valid ABA checksum, not a real bank).
pub const SANDBOX_ROUTING_NUMBER: &str = "123123123";

/// The credentials every credential bank accepts.
pub const GOOD_USERNAME: &str = "user_good";
pub const GOOD_PASSWORD: &str = "pass_good";

/// What happens after a login at a sandbox bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Good credentials connect at once.
    Plain,
    /// One security question.
    SecurityQuestion,
    /// Choose a delivery channel, then type a one-time code.
    OneTimeCode,
    /// Type the code shown in an image.
    Captcha,
    /// Pick the right picture.
    PictureChoice,
    /// Two questions in one round, then a one-time code.
    SeveralQuestions,
    /// Logs in at the "bank" through the hub-hosted consent page.
    OAuth,
    /// Asks for one account when verification with single account select is requested.
    AccountSelect,
    /// Stays in progress for the configured slow delay, then connects.
    Slow,
    /// Accepts the login, then fails.
    Down,
}

/// One test bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxBank {
    /// Both the UCP institution id and the sandbox's own institution id.
    pub id: &'static str,
    pub name: &'static str,
    pub behaviour: Behaviour,
    /// Supports aggregation only (filtered out for verification, identity and history jobs).
    pub aggregation_only: bool,
    /// Search keywords besides `sandbox` and `test`.
    pub keywords: &'static [&'static str],
}

impl SandboxBank {
    pub fn supports_oauth(&self) -> bool {
        self.behaviour == Behaviour::OAuth
    }

    /// The message of the `Down` bank's failure.
    pub fn down_message(&self) -> String {
        format!("{} is not responding. Please try again later.", self.name)
    }

    pub fn login_form(&self) -> LoginForm {
        if self.supports_oauth() {
            return LoginForm::OAuth;
        }
        LoginForm::Credentials {
            fields: vec![
                CredentialField {
                    id: "username".into(),
                    label: "Username".into(),
                    field_name: "LOGIN".into(),
                    kind: FieldKind::Text,
                },
                CredentialField {
                    id: "password".into(),
                    label: "Password".into(),
                    field_name: "PASSWORD".into(),
                    kind: FieldKind::Password,
                },
            ],
        }
    }

    pub fn aggregator_institution(&self) -> AggregatorInstitution {
        AggregatorInstitution {
            id: self.id.to_owned(),
            name: Some(self.name.to_owned()),
            url: Some(SANDBOX_BANK_URL.to_owned()),
            logo_url: None,
            supports_oauth: self.supports_oauth(),
        }
    }

    /// The UCW cached-institution record, with one `sandbox` block.
    pub fn institution(&self) -> Institution {
        let all = !self.aggregation_only;
        let block = AggregatorSupport {
            id: self.id.to_owned(),
            supports_aggregation: true,
            supports_verification: all,
            supports_identification: all,
            supports_history: all,
            supports_oauth: self.supports_oauth(),
        };
        let keywords = ["sandbox", "test"]
            .iter()
            .chain(self.keywords)
            .map(|k| (*k).to_owned())
            .collect();
        let routing_numbers = if self.id == "sandbox_bank" {
            vec![SANDBOX_ROUTING_NUMBER.to_owned()]
        } else {
            Vec::new()
        };
        Institution {
            id: self.id.to_owned(),
            name: self.name.to_owned(),
            keywords,
            logo: None,
            url: Some(SANDBOX_BANK_URL.to_owned()),
            is_test_bank: true,
            routing_numbers,
            aggregators: AggregatorBlocks::from([(SANDBOX_ID.to_owned(), block)]),
        }
    }
}

const fn bank(
    id: &'static str,
    name: &'static str,
    behaviour: Behaviour,
    keywords: &'static [&'static str],
) -> SandboxBank {
    SandboxBank {
        id,
        name,
        behaviour,
        aggregation_only: false,
        keywords,
    }
}

/// Every sandbox bank, in catalogue order.
pub const BANKS: [SandboxBank; 11] = [
    bank("sandbox_bank", "Sandbox Bank", Behaviour::Plain, &["bank"]),
    bank(
        "sandbox_mfa_question",
        "Sandbox Bank (Security Question)",
        Behaviour::SecurityQuestion,
        &["mfa", "security question"],
    ),
    bank(
        "sandbox_mfa_token",
        "Sandbox Bank (One-Time Code)",
        Behaviour::OneTimeCode,
        &["mfa", "token", "one-time code"],
    ),
    bank(
        "sandbox_mfa_image",
        "Sandbox Bank (Captcha)",
        Behaviour::Captcha,
        &["mfa", "captcha", "image"],
    ),
    bank(
        "sandbox_mfa_image_options",
        "Sandbox Bank (Picture Choice)",
        Behaviour::PictureChoice,
        &["mfa", "image options", "picture"],
    ),
    bank(
        "sandbox_mfa_multi",
        "Sandbox Bank (Several Questions)",
        Behaviour::SeveralQuestions,
        &["mfa", "several questions"],
    ),
    bank(
        "sandbox_oauth",
        "Sandbox Bank (OAuth)",
        Behaviour::OAuth,
        &["oauth"],
    ),
    bank(
        "sandbox_account_select",
        "Sandbox Bank (Account Select)",
        Behaviour::AccountSelect,
        &["account select", "verification"],
    ),
    bank(
        "sandbox_slow",
        "Sandbox Bank (Slow)",
        Behaviour::Slow,
        &["slow"],
    ),
    bank(
        "sandbox_down",
        "Sandbox Bank (Down)",
        Behaviour::Down,
        &["down", "failure"],
    ),
    SandboxBank {
        aggregation_only: true,
        ..bank(
            "sandbox_transactions_only",
            "Sandbox Bank (Transactions Only)",
            Behaviour::Plain,
            &["transactions only"],
        )
    },
];

/// The bank with this sandbox institution id.
pub fn find_bank(id: &str) -> Option<&'static SandboxBank> {
    BANKS.iter().find(|b| b.id == id)
}

/// The sandbox test institutions in UCW's cached-institution shape, for the catalogue.
pub fn institutions() -> Vec<Institution> {
    BANKS.iter().map(SandboxBank::institution).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_core::JobType;
    use hub_core::institution::SupportLevel;

    #[test]
    fn institutions_have_one_sandbox_block_with_the_same_id() {
        let list = institutions();
        assert_eq!(list.len(), 11);
        for inst in &list {
            assert!(inst.is_test_bank);
            assert_eq!(inst.aggregators.len(), 1);
            assert_eq!(inst.block(SANDBOX_ID).unwrap().id, inst.id);
            assert!(inst.keywords.contains(&"sandbox".to_owned()));
            assert_eq!(inst.logo, None);
            assert_eq!(inst.url.as_deref(), Some(SANDBOX_BANK_URL));
        }
        let oauth: Vec<_> = list.iter().filter(|i| i.any_oauth()).collect();
        assert_eq!(oauth.len(), 1);
        assert_eq!(oauth[0].id, "sandbox_oauth");
    }

    #[test]
    fn transactions_only_bank_is_filtered_for_other_jobs() {
        let inst = find_bank("sandbox_transactions_only")
            .unwrap()
            .institution();
        let block = inst.block(SANDBOX_ID).unwrap();
        assert!(block.supports(JobType::Transactions, SupportLevel::Full));
        assert!(!block.supports(JobType::AccountNumber, SupportLevel::Full));
        assert!(!block.supports(JobType::AccountOwner, SupportLevel::Full));
        assert!(!block.supports(JobType::TransactionHistory, SupportLevel::Full));
        let full = find_bank("sandbox_bank").unwrap().institution();
        assert!(
            full.block(SANDBOX_ID)
                .unwrap()
                .supports_all(&JobType::ALL, SupportLevel::Full)
        );
    }

    #[test]
    fn institutions_round_trip_through_the_ucw_json_shape() {
        let json = serde_json::to_value(institutions()).unwrap();
        let first = &json[0];
        assert_eq!(first["id"], "sandbox_bank");
        assert_eq!(first["sandbox"]["id"], "sandbox_bank");
        assert_eq!(first["sandbox"]["supports_verification"], true);
        let back: Vec<Institution> = serde_json::from_value(json).unwrap();
        assert_eq!(back, institutions());
    }
}
