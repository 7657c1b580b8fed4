//! In-memory fakes for gate-setup's flow stories: CodeCommit's approval rule templates (as aws-reference-2 §2 describes them) and a response sink that keeps every body.
//!
//! [`MemoryRuleTemplates`] enforces what the flow depends on: unique names, 1,000 templates,
//! 3,000-character content, `ApprovalRuleTemplateInUseException` while associated, a 200 with
//! an empty id for deleting a missing template, batches of at most 100 names, per-repository
//! `errors[]` for unknown repositories and the 25-templates-per-repository limit. Every call
//! is logged, a fault can be injected for any call, and a call can be made to hang (for
//! deadline stories).

use super::flow::{
    BATCH_ASSOCIATE, BATCH_DISASSOCIATE, CREATE, DELETE, GET, LIST_REPOSITORIES, UPDATE_CONTENT,
    UPDATE_DESCRIPTION,
};
use super::request::is_template_name;
use super::{
    BatchResult, CreateResult, DeleteResult, MAX_BATCH_REPOSITORIES, RepositoryFailure, Respond,
    RespondError, RuleTemplates, TemplateRecord,
};
use crate::ports::{PortError, PortResult};
use crate::rule_content::MAX_CONTENT_CHARS;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

/// Templates per Region (CC-UG `limits.md`).
pub const MAX_TEMPLATES: usize = 1000;
/// Templates one repository can be associated with.
pub const MAX_TEMPLATES_PER_REPOSITORY: usize = 25;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An injected misbehaviour.
#[derive(Debug, Clone)]
enum Fault {
    Fail(PortError),
    Hang,
}

#[derive(Debug, Default)]
struct State {
    templates: BTreeMap<String, TemplateRecord>,
    associations: BTreeMap<String, BTreeSet<String>>,
    repositories: BTreeSet<String>,
    next_id: usize,
    calls: Vec<String>,
    faults: HashMap<&'static str, Vec<Fault>>,
}

/// A fake CodeCommit holding approval rule templates, their associations and repositories.
#[derive(Debug, Default)]
pub struct MemoryRuleTemplates {
    state: Mutex<State>,
}

fn permanent(call: &'static str, code: &str) -> PortError {
    PortError::Permanent {
        call,
        message: format!("{code}: rejected by the in-memory CodeCommit"),
    }
}

impl MemoryRuleTemplates {
    /// A CodeCommit with these repositories and no templates.
    pub fn with_repositories<I, S>(repositories: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let fake = Self::default();
        lock(&fake.state)
            .repositories
            .extend(repositories.into_iter().map(Into::into));
        fake
    }

    /// Adds a template as someone else made it.
    pub fn put_template(&self, name: &str, content: &str, description: &str) -> TemplateRecord {
        let mut state = lock(&self.state);
        let record = new_record(&mut state, name, content, description);
        state.templates.insert(name.to_owned(), record.clone());
        record
    }

    /// Associates a template with a repository behind the flow's back.
    pub fn put_association(&self, template: &str, repository: &str) {
        lock(&self.state)
            .associations
            .entry(template.to_owned())
            .or_default()
            .insert(repository.to_owned());
    }

    /// Removes a template behind the flow's back (associations included).
    pub fn drop_template(&self, name: &str) {
        let mut state = lock(&self.state);
        state.templates.remove(name);
        state.associations.remove(name);
    }

    /// The template named `name`.
    pub fn get(&self, name: &str) -> Option<TemplateRecord> {
        lock(&self.state).templates.get(name).cloned()
    }

    /// Every template name.
    pub fn names(&self) -> Vec<String> {
        lock(&self.state).templates.keys().cloned().collect()
    }

    /// The repositories `template` is associated with, sorted.
    pub fn associated(&self, template: &str) -> Vec<String> {
        lock(&self.state)
            .associations
            .get(template)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every call so far, in order, as `action template (batch size)`.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.state).calls.clone()
    }

    /// Forgets the calls made so far.
    pub fn clear_calls(&self) {
        lock(&self.state).calls.clear();
    }

    /// The next call to `call` fails with `error` (queue several for several calls).
    pub fn fail_next(&self, call: &'static str, error: PortError) {
        lock(&self.state)
            .faults
            .entry(call)
            .or_default()
            .push(Fault::Fail(error));
    }

    /// The next call to `call` never returns.
    pub fn hang_next(&self, call: &'static str) {
        lock(&self.state)
            .faults
            .entry(call)
            .or_default()
            .push(Fault::Hang);
    }

    /// Logs the call and takes its injected fault, if any.
    fn enter(&self, call: &'static str, detail: String) -> Option<Fault> {
        let mut state = lock(&self.state);
        state.calls.push(format!("{call} {detail}"));
        match state.faults.get_mut(call) {
            Some(list) if !list.is_empty() => Some(list.remove(0)),
            _ => None,
        }
    }

    async fn begin(&self, call: &'static str, detail: String) -> PortResult<()> {
        match self.enter(call, detail) {
            None => Ok(()),
            Some(Fault::Fail(e)) => Err(e),
            Some(Fault::Hang) => std::future::pending().await,
        }
    }
}

fn new_record(state: &mut State, name: &str, content: &str, description: &str) -> TemplateRecord {
    state.next_id += 1;
    TemplateRecord {
        id: format!("{:08x}-EXAMPLE", state.next_id),
        name: name.to_owned(),
        content: content.to_owned(),
        description: description.to_owned(),
    }
}

fn check_name(call: &'static str, name: &str) -> PortResult<()> {
    if is_template_name(name) {
        Ok(())
    } else {
        Err(permanent(call, "InvalidApprovalRuleTemplateNameException"))
    }
}

fn check_batch(call: &'static str, repositories: &[String]) -> PortResult<()> {
    if repositories.is_empty() {
        return Err(permanent(call, "RepositoryNamesRequiredException"));
    }
    if repositories.len() > MAX_BATCH_REPOSITORIES {
        return Err(permanent(call, "MaximumRepositoryNamesExceededException"));
    }
    Ok(())
}

impl MemoryRuleTemplates {
    /// A batch (dis)association as CodeCommit answers it: `None` when the template does not
    /// exist, else each repository done by `apply` or failed (a missing repository, or what
    /// `apply` refuses).
    async fn batch(
        &self,
        call: &'static str,
        name: &str,
        repositories: &[String],
        mut apply: impl FnMut(&mut State, &str) -> Result<(), RepositoryFailure>,
    ) -> PortResult<Option<BatchResult>> {
        self.begin(call, format!("{name} ({})", repositories.len()))
            .await?;
        check_name(call, name)?;
        check_batch(call, repositories)?;
        let mut state = lock(&self.state);
        if !state.templates.contains_key(name) {
            return Ok(None);
        }
        let mut result = BatchResult::default();
        for repository in repositories {
            if !state.repositories.contains(repository) {
                result.failed.push(missing_repository(repository));
                continue;
            }
            match apply(&mut state, repository) {
                Ok(()) => result.done.push(repository.clone()),
                Err(failure) => result.failed.push(failure),
            }
        }
        Ok(Some(result))
    }
}

fn missing_repository(repository: &str) -> RepositoryFailure {
    RepositoryFailure {
        repository: repository.to_owned(),
        code: "RepositoryDoesNotExistException".to_owned(),
        message: format!("{repository} does not exist"),
    }
}

impl RuleTemplates for MemoryRuleTemplates {
    async fn template(&self, name: &str) -> PortResult<Option<TemplateRecord>> {
        self.begin(GET, name.to_owned()).await?;
        check_name(GET, name)?;
        Ok(self.get(name))
    }

    async fn create(
        &self,
        name: &str,
        content: &str,
        description: &str,
    ) -> PortResult<CreateResult> {
        self.begin(CREATE, name.to_owned()).await?;
        check_name(CREATE, name)?;
        if content.is_empty() {
            return Err(permanent(
                CREATE,
                "ApprovalRuleTemplateContentRequiredException",
            ));
        }
        if content.chars().count() > MAX_CONTENT_CHARS
            || serde_json::from_str::<serde_json::Value>(content).is_err()
        {
            return Err(permanent(
                CREATE,
                "InvalidApprovalRuleTemplateContentException",
            ));
        }
        let mut state = lock(&self.state);
        if state.templates.contains_key(name) {
            return Ok(CreateResult::NameTaken);
        }
        if state.templates.len() >= MAX_TEMPLATES {
            return Err(permanent(CREATE, "NumberOfRuleTemplatesExceededException"));
        }
        let record = new_record(&mut state, name, content, description);
        state.templates.insert(name.to_owned(), record.clone());
        Ok(CreateResult::Created(record))
    }

    async fn update_content(
        &self,
        name: &str,
        content: &str,
    ) -> PortResult<Option<TemplateRecord>> {
        self.begin(UPDATE_CONTENT, name.to_owned()).await?;
        check_name(UPDATE_CONTENT, name)?;
        let mut state = lock(&self.state);
        Ok(state.templates.get_mut(name).map(|t| {
            t.content = content.to_owned();
            t.clone()
        }))
    }

    async fn update_description(
        &self,
        name: &str,
        description: &str,
    ) -> PortResult<Option<TemplateRecord>> {
        self.begin(UPDATE_DESCRIPTION, name.to_owned()).await?;
        check_name(UPDATE_DESCRIPTION, name)?;
        let mut state = lock(&self.state);
        Ok(state.templates.get_mut(name).map(|t| {
            t.description = description.to_owned();
            t.clone()
        }))
    }

    async fn repositories(&self, name: &str) -> PortResult<Option<Vec<String>>> {
        self.begin(LIST_REPOSITORIES, name.to_owned()).await?;
        check_name(LIST_REPOSITORIES, name)?;
        let state = lock(&self.state);
        if !state.templates.contains_key(name) {
            return Ok(None);
        }
        Ok(Some(
            state
                .associations
                .get(name)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
        ))
    }

    async fn associate(
        &self,
        name: &str,
        repositories: &[String],
    ) -> PortResult<Option<BatchResult>> {
        self.batch(BATCH_ASSOCIATE, name, repositories, |state, repository| {
            let templates_of_repository = state
                .associations
                .iter()
                .filter(|(t, repos)| t.as_str() != name && repos.contains(repository))
                .count();
            if templates_of_repository >= MAX_TEMPLATES_PER_REPOSITORY {
                return Err(RepositoryFailure {
                    repository: repository.to_owned(),
                    code: "MaximumRuleTemplatesAssociatedWithRepositoryException".to_owned(),
                    message: "more than 25 templates".to_owned(),
                });
            }
            state
                .associations
                .entry(name.to_owned())
                .or_default()
                .insert(repository.to_owned());
            Ok(())
        })
        .await
    }

    async fn disassociate(
        &self,
        name: &str,
        repositories: &[String],
    ) -> PortResult<Option<BatchResult>> {
        self.batch(
            BATCH_DISASSOCIATE,
            name,
            repositories,
            |state, repository| {
                if let Some(set) = state.associations.get_mut(name) {
                    set.remove(repository);
                }
                Ok(())
            },
        )
        .await
    }

    async fn delete(&self, name: &str) -> PortResult<DeleteResult> {
        self.begin(DELETE, name.to_owned()).await?;
        check_name(DELETE, name)?;
        let mut state = lock(&self.state);
        if state.associations.get(name).is_some_and(|s| !s.is_empty()) {
            return Ok(DeleteResult::InUse);
        }
        Ok(match state.templates.remove(name) {
            Some(record) => {
                state.associations.remove(name);
                DeleteResult::Deleted { id: record.id }
            }
            None => DeleteResult::Absent,
        })
    }
}

/// A response sink: keeps every `(url, body)` PUT to it; failures can be injected.
#[derive(Debug, Default)]
pub struct CapturedResponses {
    sent: Mutex<Vec<(String, String)>>,
    failures: Mutex<Vec<RespondError>>,
}

impl CapturedResponses {
    /// Every response delivered, in order.
    pub fn sent(&self) -> Vec<(String, String)> {
        lock(&self.sent).clone()
    }

    /// The bodies delivered, parsed.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        lock(&self.sent)
            .iter()
            .map(|(_, body)| serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
            .collect()
    }

    /// The next PUT fails with `error` (queue several for several PUTs).
    pub fn fail_next(&self, error: RespondError) {
        lock(&self.failures).push(error);
    }
}

impl Respond for CapturedResponses {
    async fn put(&self, url: &str, body: &str) -> Result<(), RespondError> {
        {
            let mut failures = lock(&self.failures);
            if !failures.is_empty() {
                return Err(failures.remove(0));
            }
        }
        lock(&self.sent).push((url.to_owned(), body.to_owned()));
        Ok(())
    }
}
