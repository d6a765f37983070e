//! The MCP handler: what each MCP request does.
//!
//! Adapters stay thin: `tools/list` reads the catalogue, `tools/call` builds a
//! worker request, relays the worker's events and converts the result;
//! resources and prompts are one call each into their modules.

// rmcp deprecates logging (SEP-2577), which the 2025 protocols still have.
#![allow(deprecated)]

use crate::{
    EdgeState,
    auth::Principal,
    convert, dispatch, listen,
    listing::mcp_tools,
    metrics::{self, Method, Operation},
    prompts, resources, retries, skills, spans,
};
use common::{ErrorCode, Failure, catalogue};
use futures::future::BoxFuture;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
        CustomRequest, CustomResult, DiscoverResult, GetPromptRequestParams, GetPromptResponse,
        GetSkillRequestParams, GetSkillResult, Implementation, InitializeRequestParams,
        InitializeResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
        ListSkillsResult, ListToolsResult, LoggingMessageNotification, PaginatedRequestParams,
        ProgressNotificationParam, ReadResourceRequestParams, ReadResourceResponse,
        ServerCapabilities, ServerConfig, ServerNotification, SetLevelRequestParams,
        SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};
use tracing::Instrument;

/// Serves one MCP session (or one stateless request).
#[derive(Clone)]
pub struct McpHandler {
    state: EdgeState,
    /// `logging/setLevel` of the legacy stream this handler serves.
    level: crate::logging::HandlerLevel,
}

impl McpHandler {
    pub fn new(state: EdgeState) -> Self {
        Self {
            state,
            level: Default::default(),
        }
    }
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_resources_subscribe()
            .enable_prompts()
            .enable_completions()
            .enable_logging()
            .enable_skills()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("d365mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tools for Microsoft Dynamics 365 Finance & Operations. Find an entity with \
                 d365fo_search_entities and its fields and keys with d365fo_get_entity_schema \
                 before reading (d365fo_query_entities, d365fo_get_entity_record) or changing \
                 data (create, update, delete, d365fo_execute_batch). Every tool takes an \
                 optional `environment`: the name of a configured D365FO environment, the \
                 default one when omitted. Resources: d365fo://environment, \
                 d365fo://environments/{environment} and entity schemas at \
                 d365fo://environments/{environment}/entities/{entity}/schema. Prompts: \
                 d365fo_entity_analysis and d365fo_environment_summary. Skills \
                 (skills/list, or the resources skill://d365fo/{name}/SKILL.md) teach \
                 entity keys, company scope, paging, ETag writes and labels. OData actions, \
                 JSON services, reports and operator tools are listed when configuration \
                 adds their toolsets.",
            )
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let op = Operation::start(Method::ToolsList, &context);
        // A caller sees the tools of its toolsets that it may call.
        let caller = Principal::of(context.extensions.get());
        let config = &self.state.config;
        let policy = &config.policy;
        let toolsets = policy
            .listed_toolsets(&caller.subject, &caller.tenant)
            .unwrap_or(config.toolsets);
        let everything = policy.lists_everything(&caller.subject, &caller.tenant);
        let listing = crate::listing::Listing::of(
            |spec| {
                toolsets.lists(spec)
                    && (everything || policy.lists(&caller.subject, &caller.tenant, spec))
            },
            config.output_schemas,
        );
        // The whole catalogue is one page; a cursor still gets it whole.
        let first_page = request.as_ref().is_none_or(|r| r.cursor.is_none());
        if first_page && let Some(placeholder) = crate::listing::placeholder(&context, &listing) {
            return op.finish(Ok(placeholder));
        }
        let tools = listing.tools();
        op.finish(Ok(ListToolsResult::with_all_items(tools)))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let op = Operation::start(Method::ResourcesList, &context);
        let mut listed = resources::list();
        listed.extend(skills::resources());
        op.finish(Ok(ListResourcesResult::with_all_items(listed)))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let op = Operation::start(Method::ResourceTemplatesList, &context);
        op.finish(Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        )))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let op = Operation::start(Method::ResourcesRead, &context);
        let target = spans::Target::Resource(&request.uri);
        let (span, trace) = spans::start(Method::ResourcesRead, target, &context);
        let caller = Principal::of(context.extensions.get());
        let read = Box::pin(resources::read(
            &self.state,
            &caller,
            &request.uri,
            &context.ct,
        ));
        let read = common::trace::scope(trace, read).instrument(span.clone());
        // Skills are compiled in: no worker call.
        let result = match skills::read(&request.uri) {
            Some(skill) => skill.map(Into::into),
            None => read.await.map(Into::into),
        };
        spans::finish(&span, &result);
        op.finish(result)
    }

    async fn list_skills(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, ErrorData> {
        let op = Operation::start(Method::SkillsList, &context);
        op.finish(Ok(ListSkillsResult::with_all_items(skills::list())))
    }

    async fn get_skill(
        &self,
        request: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, ErrorData> {
        let op = Operation::start(Method::SkillsGet, &context);
        op.finish(skills::get(&request.uri).map(GetSkillResult::new))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let op = Operation::start(Method::PromptsList, &context);
        op.finish(Ok(ListPromptsResult::with_all_items(prompts::list())))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let op = Operation::start(Method::PromptsGet, &context);
        let target = spans::Target::Prompt(&request.name);
        let (span, _) = spans::start(Method::PromptsGet, target, &context);
        let result = span.in_scope(|| {
            prompts::get(&request.name, request.arguments)
                .map(Into::into)
                .map_err(|failure| convert::error_data(&failure))
        });
        spans::finish(&span, &result);
        op.finish(result)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(crate::listen::Listeners::accept(requested))
    }

    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), ErrorData> {
        // Timed for the stream's life, which is the request's.
        let op = Operation::start(Method::SubscriptionsListen, subscription.request_context());
        let _open = metrics::StreamOpen::new(metrics::StreamKind::Listen);
        // Updates of environments the caller's tenant policy does not allow
        // are never sent (they would tell when another tenant's changed).
        let caller = Principal::of(subscription.request_context().extensions.get());
        let policy = &self.state.config.policy;
        let _registered = self
            .state
            .listeners
            .register(subscription.sink().clone(), |environment| {
                policy.may_follow(&caller.subject, &caller.tenant, environment)
            })
            .await;
        subscription.cancelled().await;
        op.finish(Ok(()))
    }

    #[allow(deprecated)] // the legacy protocols' subscriptions, served beside listen
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let op = Operation::start(Method::ResourcesSubscribe, &context);
        let caller = Principal::of(context.extensions.get());
        let policy = &self.state.config.policy;
        if let Some(environment) = listen::environment_of(&request.uri)
            && !policy.may_follow(&caller.subject, &caller.tenant, environment.as_deref())
        {
            metrics::refused(metrics::Refusal::Policy);
            return op.finish(Err(convert::error_data(&Failure::new(
                ErrorCode::PermissionDenied,
                format!(
                    "key `{}` may not follow `{}`: the tenant policy does not allow its \
                     environment (name one the key may use)",
                    common::clip::clip(&caller.subject),
                    common::clip::clip(&request.uri)
                ),
            ))));
        }
        let conversation = listen::conversation_of(&context.extensions);
        let listeners = &self.state.listeners;
        let subscribed = listeners
            .subscribe(conversation, context.peer.clone(), &request.uri, true)
            .await;
        op.finish(subscribed)
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let op = Operation::start(Method::ResourcesUnsubscribe, &context);
        let conversation = listen::conversation_of(&context.extensions);
        let listeners = &self.state.listeners;
        let unsubscribed = listeners
            .subscribe(conversation, context.peer.clone(), &request.uri, false)
            .await;
        op.finish(unsubscribed)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let mut op = Operation::with_version(Method::Initialize, common::metrics::OTHER);
        listen::Notifier::session_opened(&self.state, &context).await;
        context.peer.set_peer_info(request.clone());
        let result = self.negotiate_initialize(&request);
        if let Ok(result) = &result {
            op.set_version(metrics::version_name(Some(
                result.protocol_version.as_str(),
            )));
        }
        let replayed = context
            .extensions
            .get::<rmcp::transport::streamable_http_server::session::SessionRestoreMarker>()
            .is_some();
        if replayed {
            op.skip(result)
        } else {
            op.finish(result)
        }
    }

    async fn ping(&self, context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        Operation::start(Method::Ping, &context).finish(Ok(()))
    }

    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        let op = Operation::start(Method::Discover, &context);
        op.finish(Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        )))
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let op = Operation::start(Method::CompletionComplete, &context);
        let caller = Principal::of(context.extensions.get());
        let completed = Box::pin(crate::completions::complete(
            &self.state,
            &caller,
            &request,
            &context.ct,
        ));
        op.finish(completed.await)
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        // rmcp's answer to a method outside MCP, timed as `_OTHER`.
        let op = Operation::start(Method::Other, &context);
        op.finish(Err(ErrorData::new(
            rmcp::model::ErrorCode::METHOD_NOT_FOUND,
            request.method,
            None,
        )))
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        listen::Notifier::session_initialized(&self.state, &context).await;
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let op = Operation::start(Method::LoggingSetLevel, &context);
        let level = request.level;
        *self.level.lock() = Some(level);
        if let Some(listen::Conversation::Session(id)) =
            listen::conversation_of(&context.extensions)
        {
            let records = self.state.sessions.shared_records();
            if let Err(e) = records.update(&id, |r| r.log_level = Some(level)).await {
                tracing::warn!(session = %id, error = %e,
                    "log level kept on this edge only: shared store unreachable");
            }
        }
        op.finish(Ok(()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        mcp_tools().iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let op = Operation::tool_call(request.name.as_ref(), &context);
        let environment = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("environment"));
        let target =
            spans::Target::Tool(request.name.as_ref(), environment.and_then(|e| e.as_str()));
        let (span, trace) = spans::start(Method::ToolsCall, target, &context);
        // The worker request takes the trace from the task (`dispatch`).
        // Boxed: rmcp spawns and wraps this method's future, and every move
        // of an unboxed call (kilobytes of state) is a copy.
        let call = common::trace::scope(trace, Box::pin(self.call(request, context)));
        let result = call.instrument(span.clone()).await;
        spans::finish(&span, &result);
        op.finish(result)
    }
}

impl McpHandler {
    /// One `tools/call` (timed by `call_tool`).
    async fn call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.as_ref();
        let Some(spec) = catalogue::find(name) else {
            return Err(convert::error_data(&Failure::new(
                ErrorCode::UnknownTool,
                format!(
                    "unknown tool `{}`; call tools/list for the available tools (all start with `d365fo_`)",
                    common::clip::clip(name)
                ),
            )));
        };
        let progress_token = context.meta.get_progress_token();
        let timeout = self.state.config.call_timeout;
        let arguments = request.arguments.clone().unwrap_or_default();
        let caller = Principal::of(context.extensions.get());
        let log_level = crate::logging::wanted(&context, &self.level);
        // A write's resends carry the same request id: its client's key, or
        // one derived from its session's request.
        let scope = retries::scope_of(&context);
        let jsonrpc_id = context.id.clone().into_json_value();
        let call = retries::Call {
            caller: &caller,
            tool: spec.name,
            arguments: &arguments,
            read_only: spec.effects.read_only,
            explicit: context.meta.get(retries::IDEMPOTENCY_KEY),
            scope: scope.as_ref(),
            jsonrpc_id: &jsonrpc_id,
        };
        let retry_key = match retries::retry_key(&call, self.state.config.retry_window) {
            Ok(key) => key,
            Err(failure) => return convert::failure_to_mcp(failure).map(Into::into),
        };
        // Kept for the confirmation, asked once the policy has allowed the call.
        let to_confirm = crate::confirm::applies(spec, &arguments).then(|| arguments.clone());
        let mut worker_request = match dispatch::worker_request(
            &self.state.config.policy,
            &caller,
            spec.name,
            arguments,
            progress_token.is_some(),
            timeout,
        ) {
            Ok(worker_request) => worker_request,
            Err(failure) => return convert::failure_to_mcp(failure).map(Into::into),
        };
        let mut retry_key = retry_key;
        if let Some(arguments) = &to_confirm {
            let gate =
                crate::confirm::gate(&self.state, &caller, spec, arguments, &request, &context);
            match gate.await {
                Ok(crate::confirm::Gate::Proceed { confirmed }) => {
                    // A confirmed stateless retry without the client's key
                    // runs under its confirmation's id: a resend of it is
                    // answered from the first attempt.
                    if let Some(handle) = confirmed
                        && matches!(retry_key, retries::RetryKey::None)
                    {
                        let key = serde_json::Value::String(format!("confirmation:{handle}"));
                        match retries::keyed_request_id(&caller, &key) {
                            Ok(id) => retry_key = retries::RetryKey::Explicit(id),
                            Err(failure) => {
                                return convert::failure_to_mcp(failure).map(Into::into);
                            }
                        }
                    }
                }
                Ok(crate::confirm::Gate::Answer(answer)) => return Ok(answer),
                Err(failure) => return convert::failure_to_mcp(failure).map(Into::into),
            }
        }
        retry_key.apply(&mut worker_request);
        spans::record_call(&worker_request.request_id);
        // The worker sends only the lines the client will get.
        worker_request.log_level = log_level
            .map(crate::logging::name)
            .unwrap_or_default()
            .into();
        let peer = context.peer.clone();
        let notifier = listen::Notifier::of(&self.state, &context);
        let on_notice = move |notice: dispatch::Notice| -> BoxFuture<'static, ()> {
            let peer = peer.clone();
            match notice {
                dispatch::Notice::Progress(p) => {
                    let Some(token) = progress_token.clone() else {
                        return Box::pin(std::future::ready(()));
                    };
                    Box::pin(async move {
                        let mut param = ProgressNotificationParam::new(token, p.progress);
                        if let Some(total) = p.total {
                            param = param.with_total(total);
                        }
                        if !p.message.is_empty() {
                            param = param.with_message(p.message);
                        }
                        // A client that went away just misses progress.
                        let _ = peer.notify_progress(param).await;
                    })
                }
                dispatch::Notice::Log(log) => {
                    let Some(param) =
                        log_level.and_then(|wanted| crate::logging::notification(&log, wanted))
                    else {
                        return Box::pin(std::future::ready(()));
                    };
                    let notifier = notifier.clone();
                    Box::pin(async move {
                        let line = LoggingMessageNotification::new(param);
                        notifier
                            .send(ServerNotification::LoggingMessageNotification(line))
                            .await;
                    })
                }
            }
        };
        // Counted until answered: a drain waits for it.
        let _running = self.state.drain.enter();
        let call = dispatch::run(
            &self.state.workers,
            worker_request,
            spec.effects.read_only,
            timeout,
            on_notice,
        );
        // Dropping `call` drops the worker stream, which cancels the work there.
        let outcome = tokio::select! {
            // A result that is ready wins over the drain's deadline.
            biased;
            outcome = call => outcome,
            _ = self.state.drain.abandoned() => Err(crate::drain::abandoned(spec.effects.read_only)),
            _ = context.ct.cancelled() => {
                return Err(convert::error_data(&Failure::new(ErrorCode::Cancelled, "the call was cancelled")));
            }
        };
        match outcome {
            Ok(result) => convert::tool_result(result),
            Err(failure) => convert::failure_to_mcp(failure),
        }
        .map(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_entry_is_a_valid_mcp_tool() {
        assert_eq!(mcp_tools().len(), catalogue::tools().len());
        let query = mcp_tools()
            .iter()
            .find(|t| t.name == catalogue::names::QUERY_ENTITIES)
            .unwrap();
        assert!(query.output_schema.is_some());
        let annotations = query.annotations.as_ref().unwrap();
        assert_eq!(annotations.read_only_hint, Some(true));
    }
}
