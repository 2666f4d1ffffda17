//! Aggregator responses: Kontomatik XML replies as the plugin parses them
//! (`aggregator_kontomatik::wire::parse_reply`, quick-xml + serde), then mapped (`mapping`):
//! command states and exception names give statuses from the documented tables, import
//! results become FDX documents whose ids are stable for the same input (mapped twice,
//! compared), scoped to their connection and distinct, and the catalogue becomes
//! institutions with distinct ids. The first byte picks: XML reply, or the text helpers
//! (command state, exception name, exception quoted in an error message).
#![no_main]

use aggregator_kontomatik::mapping::{self, CommandProgress};
use aggregator_kontomatik::wire::{self, CatalogTarget, Exception, ImportResult};
use hub_core::ConnectionStatus;
use hub_core::data::DateRange;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::collections::HashSet;
use time::Date;

const CONNECTION: &str = "conn-fuzz";
const OTHER_CONNECTION: &str = "conn-other";

/// §5.3 as the module docs give it (with `InvalidSessionId`/`SessionExpired` → `EXPIRED`);
/// every other name is `FAILED`.
const EXCEPTION_TABLE: [(&str, ConnectionStatus); 14] = [
    ("InvalidCredentials", ConnectionStatus::DENIED),
    ("TargetCredentialsMismatch", ConnectionStatus::DENIED),
    ("AccessBlocked", ConnectionStatus::LOCKED),
    ("AccessTemporarilyBlocked", ConnectionStatus::LOCKED),
    ("ManualActionRequired", ConnectionStatus::IMPEDED),
    ("UnsupportedLoginMethod", ConnectionStatus::REJECTED),
    ("UnsupportedLanguage", ConnectionStatus::REJECTED),
    (
        "InsufficientIdentificationLevel",
        ConnectionStatus::REJECTED,
    ),
    ("ServiceMaintenance", ConnectionStatus::DELAYED),
    ("ServiceTemporarilyUnavailable", ConnectionStatus::DELAYED),
    ("MultipleAccessLimitExceeded", ConnectionStatus::DELAYED),
    ("InvalidMultipleAccessId", ConnectionStatus::EXPIRED),
    ("InvalidSessionId", ConnectionStatus::EXPIRED),
    ("SessionExpired", ConnectionStatus::EXPIRED),
];

fn documented_status(name: &str) -> ConnectionStatus {
    EXCEPTION_TABLE
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(ConnectionStatus::FAILED, |(_, s)| *s)
}

fn check_exception(exception: &Exception) {
    assert_eq!(
        mapping::exception_status(&exception.name),
        documented_status(&exception.name),
        "{exception:?}"
    );
    let message = mapping::exception_message(exception);
    assert!(!message.trim().is_empty(), "{exception:?}");
    match exception
        .friendly_message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        Some(friendly) => assert_eq!(message, friendly),
        // Kontomatik's technical message is never shown: the message does not depend on it.
        None => assert_eq!(
            message,
            mapping::exception_message(&Exception {
                message: None,
                ..exception.clone()
            })
        ),
    }
}

fn check_command_state(state: &str) {
    let expected = match state.trim().to_ascii_lowercase().as_str() {
        "successful" => CommandProgress::Succeeded,
        "error" | "fatal" => CommandProgress::Failed,
        _ => CommandProgress::Running,
    };
    assert_eq!(mapping::command_progress(state), expected, "{state:?}");
}

fn string_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value}"))
}

fn check_import(result: &ImportResult) {
    // The result is stored as JSON in the hub's store and read back for every data call.
    let json = serde_json::to_vec(result).expect("an import result serialises");
    let back: ImportResult = serde_json::from_slice(&json).expect("a stored result reads back");
    assert_eq!(
        &back, result,
        "the import result changes through the store's JSON"
    );

    let accounts = mapping::accounts_document(CONNECTION, result);
    assert_eq!(accounts, mapping::accounts_document(CONNECTION, result));
    let listed = accounts["accounts"].as_array().expect("an accounts list");
    assert_eq!(listed.len(), result.accounts.account.len());
    let mut account_ids = HashSet::new();
    for (fdx, account) in listed.iter().zip(&result.accounts.account) {
        let id = string_at(fdx, "/depositAccount/accountId");
        assert!(id.starts_with("KTMA-"), "{id}");
        assert_eq!(id, mapping::account_id(CONNECTION, account));
        assert_ne!(id, mapping::account_id(OTHER_CONNECTION, account));
        account_ids.insert(id.to_owned());
        if let Some(display) = fdx
            .pointer("/depositAccount/accountNumberDisplay")
            .and_then(Value::as_str)
        {
            let tail = display.strip_prefix("••••").expect("a masked number");
            assert!(tail.chars().count() <= 4, "{display}");
        }
        let found = mapping::find_account(CONNECTION, result, id).expect("its own id is found");
        assert_eq!(mapping::account_id(CONNECTION, found), id);
    }

    let identity = mapping::identity_document(CONNECTION, result);
    assert_eq!(identity, mapping::identity_document(CONNECTION, result));
    let mut customer_ids = HashSet::new();
    for customer in identity["customers"].as_array().expect("a customers list") {
        let id = string_at(customer, "/customerId");
        assert!(id.starts_with("KTMC-"), "{id}");
        assert!(
            customer_ids.insert(id.to_owned()),
            "duplicate customer {id}"
        );
        for link in customer["accounts"]
            .as_array()
            .expect("accounts of a customer")
        {
            assert!(
                account_ids.contains(string_at(link, "/accountId")),
                "{link}"
            );
            assert!(
                ["PRIMARY", "JOINT", "AUTHORIZED_USER"].contains(&string_at(link, "/relationship"))
            );
        }
    }

    let everything = DateRange {
        start: Date::MIN,
        end: Date::MAX,
    };
    let narrow = DateRange {
        start: Date::from_calendar_date(2024, time::Month::January, 1).expect("a date"),
        end: Date::from_calendar_date(2024, time::Month::June, 30).expect("a date"),
    };
    for account in &result.accounts.account {
        let all = mapping::transactions_document(CONNECTION, account, everything);
        assert_eq!(
            all,
            mapping::transactions_document(CONNECTION, account, everything)
        );
        let all = all["transactions"].as_array().expect("a transactions list");
        assert_eq!(
            all.len(),
            account.money_transactions.money_transaction.len()
        );
        let mut ids = HashSet::new();
        for t in all {
            let id = string_at(t, "/depositTransaction/transactionId");
            assert!(id.starts_with("KTMT-"), "{id}");
            assert!(ids.insert(id.to_owned()), "duplicate transaction id {id}");
            assert_eq!(
                string_at(t, "/depositTransaction/accountId"),
                mapping::account_id(CONNECTION, account)
            );
            assert!(["POSTED", "PENDING"].contains(&string_at(t, "/depositTransaction/status")));
            if let Some(amount) = t.pointer("/depositTransaction/amount") {
                assert!(amount.as_f64().is_some_and(|a| a >= 0.0), "{t}");
                assert!(
                    ["DEBIT", "CREDIT"]
                        .contains(&string_at(t, "/depositTransaction/debitCreditMemo"))
                );
            }
        }
        // A narrower range keeps the same ids for what it keeps.
        let some = mapping::transactions_document(CONNECTION, account, narrow);
        for t in some["transactions"]
            .as_array()
            .expect("a transactions list")
        {
            assert!(ids.contains(string_at(t, "/depositTransaction/transactionId")));
        }
    }
}

fn check_catalog(targets: &[CatalogTarget]) {
    // Cached in the store as JSON.
    let json = serde_json::to_vec(targets).expect("targets serialise");
    let back: Vec<CatalogTarget> = serde_json::from_slice(&json).expect("targets read back");
    assert_eq!(back, targets);

    let institutions = mapping::catalog_institutions(targets, "kontomatik");
    assert_eq!(
        institutions,
        mapping::catalog_institutions(targets, "kontomatik")
    );
    let key = |t: &CatalogTarget| t.institution.clone().unwrap_or_else(|| t.name.clone());
    let mut ids = HashSet::new();
    for institution in &institutions {
        assert!(
            ids.insert(institution.id.clone()),
            "duplicate {}",
            institution.id
        );
        let block = institution
            .aggregators
            .get("kontomatik")
            .expect("a kontomatik block");
        assert_eq!(institution.id, format!("kontomatik-{}", block.id));
        assert!(
            targets.iter().any(|t| key(t) == block.id
                && t.commands
                    .command
                    .iter()
                    .any(|c| c.name == "DefaultImportCommand")),
            "{} offers no Default Import",
            block.id
        );
    }
    for target in targets {
        let institution = key(target);
        let preferred =
            mapping::preferred_target(targets, &institution).expect("its own target is found");
        assert_eq!(key(preferred), institution);
        let any_psd2 = targets
            .iter()
            .any(|t| key(t) == institution && t.psd2 == Some(true));
        assert_eq!(preferred.psd2 == Some(true), any_psd2);
    }
}

fn check_reply(body: &[u8]) {
    let Ok(reply) = wire::parse_reply("fuzz", body) else {
        return;
    };
    if let Some(exception) = &reply.exception {
        check_exception(exception);
    }
    if let Some(command) = &reply.command {
        check_command_state(&command.state);
        if let Some(exception) = &command.exception {
            check_exception(exception);
        }
        if let Some(result) = &command.result {
            check_import(result);
        }
    }
    if let Some(targets) = &reply.targets {
        check_catalog(&targets.target);
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, body @ ..] = data else {
        return;
    };
    if selector % 2 == 0 {
        check_reply(body);
        return;
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    check_command_state(text);
    assert_eq!(mapping::exception_status(text), documented_status(text));
    if let Some(name) = mapping::exception_in_message(text) {
        assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(text.contains(&format!("name=\"{name}\"")), "{text:?}");
    }
});
