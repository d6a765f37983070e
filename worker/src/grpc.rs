//! The gRPC face of a [`Worker`]: a thin adapter over
//! [`ToolExecutor`], and [`serve`], which runs it beside the standard health
//! service on a listener it is handed.

use std::{future::Future, pin::Pin, sync::Arc};

use common::{
    executor::ToolExecutor,
    proto::{
        CallToolEvent, CallToolRequest, ListToolsRequest, ListToolsResponse,
        worker_server::{self, WorkerServer},
    },
};
use futures::{Stream, StreamExt};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

use crate::{Worker, error::WorkerError};

/// The adapter: extracts the request, calls the worker, wraps the answer.
pub struct GrpcService {
    worker: Arc<Worker>,
}

/// The worker as a tonic service.
pub fn grpc_service(worker: Arc<Worker>) -> WorkerServer<GrpcService> {
    WorkerServer::new(GrpcService { worker })
}

type EventStream = Pin<Box<dyn Stream<Item = Result<CallToolEvent, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl worker_server::Worker for GrpcService {
    type CallToolStream = EventStream;

    async fn call_tool(
        &self,
        request: Request<CallToolRequest>,
    ) -> Result<Response<Self::CallToolStream>, Status> {
        // Tool failures travel inside the stream as `ToolFailure`; a gRPC
        // status is left for transport problems.
        let events = self.worker.call_tool(request.into_inner()).map(Ok);
        Ok(Response::new(Box::pin(events)))
    }

    async fn list_tools(
        &self,
        _request: Request<ListToolsRequest>,
    ) -> Result<Response<ListToolsResponse>, Status> {
        Ok(Response::new(self.worker.list_tools()))
    }
}

/// Serves `worker` and the gRPC health service on `listener` until
/// `shutdown` completes, then drains in-flight calls.
pub async fn serve(
    listener: TcpListener,
    worker: Arc<Worker>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    // "" (the whole server) starts SERVING; name the worker service too.
    health.set_serving::<WorkerServer<GrpcService>>().await;
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        if let Ok(stream) = &conn {
            // Small frames (progress events) must not wait for Nagle.
            let _ = stream.set_nodelay(true);
        }
        conn
    });
    tracing::info!("worker gRPC server running");
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(grpc_service(worker))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    tracing::info!("worker gRPC server stopped");
    Ok(())
}
