//! The answers of the containerdns routes: containerdns's own texts
//! (`containerdns-kubeapi/api.go`, without their trailing spaces), each with
//! the status the `/v1` routes give the same failure.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::api::error::{ApiError, capped};

/// A text answer: `OK`, or `ERR, <reason>` with its status.
#[derive(Debug)]
pub(crate) struct Text(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for Text {
    fn into_response(self) -> Response {
        (self.0, capped(self.1)).into_response()
    }
}

impl From<ApiError> for Text {
    fn from(error: ApiError) -> Text {
        Text(error.status, format!("ERR, {}", error.error))
    }
}

/// One of containerdns's failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `ERR, no domain name input`
    NoDomainName,
    /// `ERR, type input`: a zone's apex is listed only for one type.
    TypeInput,
    /// `ERR, the api not support this domain`
    NotSubDomain,
    /// `alias ERR, the api not support this domain`
    AliasNotSubDomain,
    /// `ERR, user name not match`
    UserNameNotMatch,
    /// `ERR, no find  domain name`
    NoFindDomainName,
    /// `ERR, delete domain name error`: an address asked to go is not there.
    DeleteDomainName,
    /// `ERR, set domain name error`: an address asked for is there already.
    SetDomainName,
    /// `ERR, set domain name error  domain exists <name>`
    SetDomainNameExists,
    /// `ERR, put just support  one update one time`
    PutTooManyItems,
    /// `ERR, not find   alias name <alias>`
    NoFindAliasName,
    /// `ERR, alias name and domain not match <alias>`
    NoMatchAliasName,
    /// `ERR, no domain ips`
    NoDomainIps,
    /// `ERR, no domain ports`
    NoDomainPorts,
    /// `ERR, ips and ports not match`
    IpPortMatch,
    /// `ERR, it is not  IP addr`
    NotIpAddr,
    /// `ERR,type not support`: the body gives no type.
    TypeNotSupported,
    /// `ERR, no type offered`: the body gives a type the route does not take.
    NoOpsType,
    /// `ERR, no body update`
    NoBodyUpdate,
    /// `ERR, del or set key err`: the old address is gone or the new one there.
    DelOrSetKey,
}

impl Refusal {
    fn text(self) -> &'static str {
        match self {
            Refusal::NoDomainName => "ERR, no domain name input",
            Refusal::TypeInput => "ERR, type input",
            Refusal::NotSubDomain => "ERR, the api not support this domain",
            Refusal::AliasNotSubDomain => "alias ERR, the api not support this domain",
            Refusal::UserNameNotMatch => "ERR, user name not match",
            Refusal::NoFindDomainName => "ERR, no find  domain name",
            Refusal::DeleteDomainName => "ERR, delete domain name error",
            Refusal::SetDomainName => "ERR, set domain name error",
            Refusal::SetDomainNameExists => "ERR, set domain name error  domain exists ",
            Refusal::PutTooManyItems => "ERR, put just support  one update one time",
            Refusal::NoFindAliasName => "ERR, not find   alias name ",
            Refusal::NoMatchAliasName => "ERR, alias name and domain not match ",
            Refusal::NoDomainIps => "ERR, no domain ips",
            Refusal::NoDomainPorts => "ERR, no domain ports",
            Refusal::IpPortMatch => "ERR, ips and ports not match",
            Refusal::NotIpAddr => "ERR, it is not  IP addr",
            Refusal::TypeNotSupported => "ERR,type not support",
            Refusal::NoOpsType => "ERR, no type offered",
            Refusal::NoBodyUpdate => "ERR, no body update",
            Refusal::DelOrSetKey => "ERR, del or set key err",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Refusal::NoFindDomainName | Refusal::NoFindAliasName => StatusCode::NOT_FOUND,
            Refusal::UserNameNotMatch => StatusCode::FORBIDDEN,
            Refusal::DeleteDomainName
            | Refusal::SetDomainName
            | Refusal::SetDomainNameExists
            | Refusal::NoMatchAliasName
            | Refusal::DelOrSetKey => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The answer, the text as containerdns writes it.
    pub(crate) fn answer(self) -> Text {
        Text(self.status(), self.text().trim_end().to_owned())
    }

    /// The answer, with what containerdns appends (a name) after the text.
    pub(crate) fn about(self, what: impl std::fmt::Display) -> Text {
        Text(self.status(), format!("{}{what}", self.text()))
    }
}

impl From<Refusal> for Text {
    fn from(refusal: Refusal) -> Text {
        refusal.answer()
    }
}

/// `OK`.
pub(crate) fn ok() -> Response {
    Text(StatusCode::OK, "OK".into()).into_response()
}

/// A failure containerdns has no text for (ferrodns's own checks): `ERR, …`.
pub(crate) fn err(status: StatusCode, reason: impl std::fmt::Display) -> Text {
    Text(status, format!("ERR, {reason}"))
}
