//! Deterministic FDX data for connected sandbox connections: two deposit accounts, one
//! customer, and generated transactions.
//!
//! Everything is derived from ids by UUIDv5 (SHA-1) hashing, so the same connection always
//! shows the same numbers on every hub instance, and nothing extra is stored.

use hub_core::data::DateRange;
use serde_json::{Value, json};
use time::Date;
use time::macros::date;
use uuid::Uuid;

use crate::institutions::SANDBOX_ROUTING_NUMBER;

/// Namespace of every UUIDv5 the sandbox derives.
pub const SANDBOX_NAMESPACE: Uuid = Uuid::from_u128(0x5a4d_b0c5_7e1e_4c0a_9b1d_c0ec_7b0b_0001);

/// The sandbox accounts were "opened" on this day: no transactions before it.
pub const ACCOUNTS_OPENED: Date = date!(2020 - 01 - 01);

/// Connection ids are `SBX-<uuid>`; account ids are `SBXA-<that uuid>-<last four>`.
const CONNECTION_PREFIX: &str = "SBX-";
const ACCOUNT_PREFIX: &str = "SBXA-";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    Checking,
    Savings,
}

impl AccountKind {
    pub const ALL: [AccountKind; 2] = [AccountKind::Checking, AccountKind::Savings];

    pub fn last_four(self) -> &'static str {
        match self {
            AccountKind::Checking => "1234",
            AccountKind::Savings => "5678",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AccountKind::Checking => "Checking",
            AccountKind::Savings => "Savings",
        }
    }

    fn fdx_type(self) -> &'static str {
        match self {
            AccountKind::Checking => "CHECKING",
            AccountKind::Savings => "SAVINGS",
        }
    }

    fn from_last_four(last_four: &str) -> Option<Self> {
        AccountKind::ALL
            .into_iter()
            .find(|k| k.last_four() == last_four)
    }
}

/// One account of a sandbox connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxAccount {
    pub connection_id: String,
    pub kind: AccountKind,
}

impl SandboxAccount {
    /// The accounts of a connection, checking first.
    pub fn all_of(connection_id: &str) -> Vec<SandboxAccount> {
        AccountKind::ALL
            .into_iter()
            .map(|kind| SandboxAccount {
                connection_id: connection_id.to_owned(),
                kind,
            })
            .collect()
    }

    /// `SBXA-<connection uuid>-<last four>`.
    pub fn id(&self) -> String {
        let suffix = self
            .connection_id
            .strip_prefix(CONNECTION_PREFIX)
            .unwrap_or(&self.connection_id);
        format!("{ACCOUNT_PREFIX}{suffix}-{}", self.kind.last_four())
    }

    /// The account an id names, if it is a well-formed sandbox account id.
    pub fn parse(account_id: &str) -> Option<SandboxAccount> {
        let rest = account_id.strip_prefix(ACCOUNT_PREFIX)?;
        let (connection_suffix, last_four) = rest.rsplit_once('-')?;
        let kind = AccountKind::from_last_four(last_four)?;
        if connection_suffix.is_empty() {
            return None;
        }
        Some(SandboxAccount {
            connection_id: format!("{CONNECTION_PREFIX}{connection_suffix}"),
            kind,
        })
    }

    /// `Checking ••••1234`.
    pub fn display_name(&self) -> String {
        format!("{} ••••{}", self.kind.label(), self.kind.last_four())
    }

    fn hash(&self) -> [u8; 16] {
        hash_bytes(&format!("account|{}", self.id()))
    }

    /// Ten digits ending in the last four.
    pub fn account_number(&self) -> String {
        let h = self.hash();
        let prefix: String = h[..6].iter().map(|b| char::from(b'0' + b % 10)).collect();
        format!("{prefix}{}", self.kind.last_four())
    }

    /// (current, available) balances in cents.
    fn balances_cents(&self) -> (i64, i64) {
        let h = self.hash();
        let spread = i64::from(u16::from_be_bytes([h[6], h[7]]));
        match self.kind {
            AccountKind::Checking => {
                let current = 150_000 + spread * 3;
                (current, current - 2_500)
            }
            AccountKind::Savings => {
                let current = 1_000_000 + spread * 10;
                (current, current)
            }
        }
    }

    pub fn fdx(&self) -> Value {
        let (current, available) = self.balances_cents();
        json!({
            "depositAccount": {
                "accountId": self.id(),
                "accountType": self.kind.fdx_type(),
                "accountNumber": self.account_number(),
                "accountNumberDisplay": format!("••••{}", self.kind.last_four()),
                "nickname": self.kind.label(),
                "status": "OPEN",
                "currency": { "currencyCode": "USD" },
                "routingTransitNumber": SANDBOX_ROUTING_NUMBER,
                "balanceType": "ASSET",
                "currentBalance": money(current),
                "availableBalance": money(available),
            }
        })
    }
}

fn hash_bytes(name: &str) -> [u8; 16] {
    *Uuid::new_v5(&SANDBOX_NAMESPACE, name.as_bytes()).as_bytes()
}

/// Cents as a JSON number with two decimals.
fn money(cents: i64) -> Value {
    // Cents fit an f64 exactly far beyond any sandbox amount.
    #[allow(clippy::cast_precision_loss)]
    let amount = cents as f64 / 100.0;
    json!(amount)
}

/// `{"accounts": [...]}`.
pub fn accounts_document(accounts: &[SandboxAccount]) -> Value {
    json!({ "accounts": accounts.iter().map(SandboxAccount::fdx).collect::<Vec<_>>() })
}

/// `{"customers": [...]}`: one customer, owner of `accounts`.
pub fn identity_document(owner: &str, accounts: &[SandboxAccount]) -> Value {
    let customer_id = format!(
        "SBXC-{}",
        Uuid::new_v5(&SANDBOX_NAMESPACE, format!("customer|{owner}").as_bytes())
    );
    json!({
        "customers": [{
            "customerId": customer_id,
            "name": { "first": "Sandy", "last": "Boxwell" },
            "email": ["sandy.boxwell@example.com"],
            "addresses": [{
                "line1": "742 Evergreen Terrace",
                "city": "Springfield",
                "region": "IL",
                "postalCode": "62701",
                "country": "US",
                "type": "HOME"
            }],
            "telephones": [{ "type": "HOME", "country": "1", "number": "5555550102" }],
            "accounts": accounts
                .iter()
                .map(|a| json!({ "accountId": a.id(), "relationship": "PRIMARY" }))
                .collect::<Vec<_>>(),
        }]
    })
}

const CHECKING_DEBITS: [&str; 8] = [
    "Corner Grocery",
    "City Transit Pass",
    "Coffee Roasters",
    "Electric Utility",
    "Online Bookshop",
    "Hardware Store",
    "Pharmacy",
    "Gas Station",
];
const SAVINGS_DEBITS: [&str; 2] = ["Transfer to Checking", "Withdrawal"];

/// One transaction every third day (by Julian day number) on which the account was open,
/// within `range` and not after `today`; amounts and descriptions come from a hash of the
/// account id and the date.
pub fn transactions_document(account: &SandboxAccount, range: DateRange, today: Date) -> Value {
    let start = range.start.max(ACCOUNTS_OPENED);
    let end = range.end.min(today);
    let mut transactions = Vec::new();
    let mut day = start;
    while day <= end {
        if day.to_julian_day().rem_euclid(3) == 0 {
            transactions.push(transaction(account, day));
        }
        let Some(next) = day.next_day() else { break };
        day = next;
    }
    json!({ "transactions": transactions })
}

fn transaction(account: &SandboxAccount, day: Date) -> Value {
    let account_id = account.id();
    let h = hash_bytes(&format!("transaction|{account_id}|{day}"));
    let is_credit = match account.kind {
        AccountKind::Checking => h[0].is_multiple_of(6),
        AccountKind::Savings => !h[0].is_multiple_of(3),
    };
    let small = i64::from(u16::from_be_bytes([h[2], h[3]]));
    let (description, cents) = match (account.kind, is_credit) {
        (AccountKind::Checking, true) => ("Payroll Deposit", 120_000 + small % 80_000),
        (AccountKind::Checking, false) => (
            CHECKING_DEBITS[usize::from(h[1]) % CHECKING_DEBITS.len()],
            300 + small % 17_700,
        ),
        (AccountKind::Savings, true) => ("Transfer from Checking", 5_000 + small % 45_000),
        (AccountKind::Savings, false) => (
            SAVINGS_DEBITS[usize::from(h[1]) % SAVINGS_DEBITS.len()],
            2_000 + small % 20_000,
        ),
    };
    let transacted = day.previous_day().unwrap_or(day);
    let hour = h[4] % 24;
    let minute = h[5] % 60;
    json!({
        "depositTransaction": {
            "accountId": account_id,
            "transactionId": format!("SBXT-{}", Uuid::from_bytes(h)),
            "postedTimestamp": format!("{day}T12:00:00Z"),
            "transactionTimestamp": format!("{transacted}T{hour:02}:{minute:02}:00Z"),
            "description": description,
            "debitCreditMemo": if is_credit { "CREDIT" } else { "DEBIT" },
            "status": "POSTED",
            "amount": money(cents),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_name_their_connection() {
        let accounts = SandboxAccount::all_of("SBX-0f6c1a7e-7b53-4a53-9a0e-8f3a2f9d1e11");
        assert_eq!(
            accounts[0].id(),
            "SBXA-0f6c1a7e-7b53-4a53-9a0e-8f3a2f9d1e11-1234"
        );
        for account in &accounts {
            assert_eq!(SandboxAccount::parse(&account.id()).as_ref(), Some(account));
            let number = account.account_number();
            assert_eq!(number.len(), 10);
            assert!(number.ends_with(account.kind.last_four()));
        }
        assert_eq!(SandboxAccount::parse("SBXA--1234"), None);
        assert_eq!(SandboxAccount::parse("SBXA-abc-9999"), None);
        assert_eq!(SandboxAccount::parse("ACT-abc-1234"), None);
        assert_eq!(accounts[1].display_name(), "Savings ••••5678");
    }

    #[test]
    fn transactions_are_deterministic_and_every_third_day() {
        let account = &SandboxAccount::all_of("SBX-x")[0];
        let range = DateRange {
            start: date!(2026 - 01 - 01),
            end: date!(2026 - 01 - 30),
        };
        let today = date!(2026 - 11 - 21);
        let a = transactions_document(account, range, today);
        assert_eq!(a, transactions_document(account, range, today));
        let list = a["transactions"].as_array().unwrap();
        assert_eq!(list.len(), 10);
        let other = transactions_document(&SandboxAccount::all_of("SBX-y")[0], range, today);
        assert_ne!(a, other);
    }

    #[test]
    fn no_transactions_before_opening_or_after_today() {
        let account = &SandboxAccount::all_of("SBX-x")[1];
        let range = DateRange {
            start: date!(2019 - 01 - 01),
            end: date!(2020 - 01 - 09),
        };
        let doc = transactions_document(account, range, date!(2026 - 11 - 21));
        for t in doc["transactions"].as_array().unwrap() {
            let posted = t["depositTransaction"]["postedTimestamp"].as_str().unwrap();
            assert!(posted.starts_with("2020-01-0"), "{posted}");
        }
        let future = DateRange {
            start: date!(2026 - 11 - 22),
            end: date!(2026 - 12 - 31),
        };
        let doc = transactions_document(account, future, date!(2026 - 11 - 21));
        assert_eq!(doc["transactions"].as_array().unwrap().len(), 0);
    }
}
