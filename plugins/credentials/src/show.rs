//! `credentials token` and `credentials show`: what the archive holds, the token alone for a
//! script, or every member described with secrets hidden unless `--reveal`.

use carbonio_mesh_plugin_api::mesh;
use carbonio_mesh_plugin_api::services::Credentials;
use carbonio_mesh_plugin_api::{Host, PluginError, Request, Response, SecretText};
use serde::Serialize;

use crate::archive::{archive_request, token_of};
use crate::inspect;

/// `credentials token --format json`.
#[derive(Serialize)]
struct TokenAnswer {
    accessor_id: String,
    secret_id: String,
}

/// `credentials token`: the bootstrap token's SecretID, and nothing else for people.
pub fn token(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let open = archive_request(request)?;
    let token = token_of(&host.call(&open)?)?;
    let answer = TokenAnswer {
        accessor_id: token.accessor_id.clone(),
        secret_id: token.secret_id.expose().to_owned(),
    };
    let response = Response::render(request.format, &answer, |a| format!("{}\n", a.secret_id))?;
    // The token is what the user asked for.
    Ok(response.revealing(&token.secret_id))
}

/// `credentials show [--reveal]`.
pub fn show(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let open = archive_request(request)?;
    let reveal = request.flag("reveal");
    let view = describe(&host.call(&open)?, reveal);
    let response = Response::render(request.format, &view, render_show)?;
    // With --reveal, the token and the gossip key are what the user asked for.
    Ok([
        &view.token.as_ref().and_then(|t| t.secret_id.clone()),
        &view.gossip_key,
    ]
    .into_iter()
    .flatten()
    .fold(response, |response, secret| {
        response.revealing(&SecretText::new(secret.trim()))
    }))
}

#[derive(Serialize)]
struct MemberView {
    name: String,
    mode: String,
    size: u64,
}

#[derive(Serialize)]
struct TokenView {
    accessor_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_id: Option<String>,
    description: String,
    policies: Vec<String>,
    create_time: String,
}

#[derive(Serialize)]
struct ShowView {
    archive: String,
    archive_size: u64,
    password_source: String,
    members: Vec<MemberView>,
    token: Option<TokenView>,
    ca: Option<inspect::CaInfo>,
    gossip_key_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gossip_key: Option<String>,
    problems: Vec<String>,
}

/// What the archive holds, each problem found on the way named; secrets only with `reveal`.
fn describe(credentials: &Credentials, reveal: bool) -> ShowView {
    let mut problems = Vec::new();
    let token = match token_of(credentials) {
        Ok(token) => Some(TokenView {
            accessor_id: token.accessor_id.clone(),
            secret_id: reveal.then(|| token.secret_id.expose().to_owned()),
            description: token.description.clone(),
            policies: token
                .policies
                .iter()
                .map(|p| format!("{} - {}", p.id, p.name))
                .collect(),
            create_time: token.create_time.clone(),
        }),
        Err(e) => {
            problems.push(e.message);
            None
        }
    };
    let ca = credentials
        .member(mesh::CA_CERT_MEMBER)
        .map(|m| inspect::ca_info(m.content.expose()));
    let ca = match ca {
        Some(Ok(ca)) => Some(ca),
        Some(Err(e)) => {
            problems.push(e);
            None
        }
        None => None,
    };
    let gossip = credentials.member(mesh::GOSSIP_KEY_MEMBER);
    let gossip_key_bytes =
        gossip.and_then(|m| match inspect::gossip_key_bytes(m.content.expose()) {
            Ok(n) => Some(n),
            Err(e) => {
                problems.push(e);
                None
            }
        });
    for name in mesh::MEMBERS {
        if credentials.member(name).is_none() {
            problems.push(format!("the member '{name}' is missing"));
        }
    }
    ShowView {
        archive: credentials.archive.clone(),
        archive_size: credentials.archive_size,
        password_source: credentials.password_source.clone(),
        members: credentials
            .members
            .iter()
            .map(|m| MemberView {
                name: m.name.clone(),
                mode: format!("{:04o}", m.mode),
                size: m.size,
            })
            .collect(),
        token,
        ca,
        gossip_key_bytes,
        gossip_key: gossip
            .filter(|_| reveal)
            .map(|m| m.content.expose().to_owned()),
        problems,
    }
}

fn render_show(view: &ShowView) -> String {
    let mut out = format!(
        "Archive:          {} ({} bytes, password from {})\nMembers:\n",
        view.archive, view.archive_size, view.password_source
    );
    let width = view.members.iter().map(|m| m.name.len()).max().unwrap_or(0);
    for m in &view.members {
        out.push_str(&format!(
            "  {:width$}  {}  {} bytes\n",
            m.name, m.mode, m.size
        ));
    }
    if let Some(token) = &view.token {
        out.push_str(&format!("AccessorID:       {}\n", token.accessor_id));
        match &token.secret_id {
            Some(secret) => out.push_str(&format!("SecretID:         {secret}\n")),
            None => out.push_str("SecretID:         (hidden; --reveal shows it)\n"),
        }
        out.push_str(&format!("Description:      {}\n", token.description));
        out.push_str(&format!("Create Time:      {}\n", token.create_time));
        out.push_str("Policies:\n");
        for policy in &token.policies {
            out.push_str(&format!("   {policy}\n"));
        }
    }
    if let Some(ca) = &view.ca {
        let days = ca.expires_in_secs / 86_400;
        let when = if ca.expires_in_secs < 0 {
            format!("EXPIRED {} days ago", -days)
        } else {
            format!("in {days} days")
        };
        out.push_str(&format!("CA subject:       {}\n", ca.subject));
        out.push_str(&format!("CA expires:       {} ({when})\n", ca.not_after));
    }
    if let Some(bytes) = view.gossip_key_bytes {
        out.push_str(&format!("Gossip key:       {bytes} bytes\n"));
    }
    if let Some(key) = &view.gossip_key {
        out.push_str(&format!("Gossip key value: {key}\n"));
    }
    for problem in &view.problems {
        out.push_str(&format!("Problem:          {problem}\n"));
    }
    out
}
