//! Shared state of the HTTP app, and admission control: a fixed number of generation slots and a
//! bounded queue in front of them (over it: 429 with `Retry-After`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use super::metrics::Metrics;
use crate::config::ServeConfig;
use crate::engine::ServedModel;
use crate::registry::{ModelRegistry, ModelState};

/// Generation slots and the queue in front of them.
pub struct Admission {
    slots: Arc<Semaphore>,
    capacity: usize,
    waiting: AtomicUsize,
    max_queue: usize,
}

/// A held generation slot (released on drop).
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    /// `slots` generations at once, `max_queue` waiting.
    pub fn new(slots: usize, max_queue: usize) -> Admission {
        let capacity = slots.max(1);
        Admission {
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            waiting: AtomicUsize::new(0),
            max_queue,
        }
    }

    /// Waits for a slot, or refuses at once with 429 when the queue is full.
    pub async fn admit(&self) -> Result<Slot, ApiError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(Slot { _permit: permit });
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::overloaded(1));
        }
        let permit = self.slots.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        permit
            .map(|permit| Slot { _permit: permit })
            .map_err(|_| ApiError::unavailable("the server is shutting down"))
    }

    /// Requests waiting for a slot.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Generations running.
    pub fn in_flight(&self) -> usize {
        self.capacity - self.slots.available_permits()
    }
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The served models.
    pub registry: Arc<ModelRegistry>,
    /// Keys and limits.
    pub config: Arc<ServeConfig>,
    /// Generation slots.
    pub admission: Arc<Admission>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// State over `registry` with `config`.
    pub fn new(registry: Arc<ModelRegistry>, config: ServeConfig) -> AppState {
        let admission = Arc::new(Admission::new(
            config.limits.max_in_flight,
            config.limits.max_queue,
        ));
        AppState {
            registry,
            config: Arc::new(config),
            admission,
            metrics: Arc::new(Metrics::default()),
        }
    }

    /// The loaded model for `model` (None = default): 404 unknown, 503 loading or failed.
    pub fn engine(&self, model: Option<&str>) -> Result<Arc<dyn ServedModel>, ApiError> {
        let entry = self.registry.find(model).ok_or_else(|| {
            ApiError::unknown_model(model.unwrap_or_default(), &self.registry.ids())
        })?;
        match entry.state() {
            ModelState::Ready(engine) => Ok(engine),
            ModelState::Loading => Err(ApiError::unavailable(format!(
                "model `{}` is still loading",
                entry.spec.id
            ))),
            ModelState::Failed(_) => Err(ApiError::unavailable(format!(
                "model `{}` failed to load; see the server log",
                entry.spec.id
            ))),
        }
    }
}
