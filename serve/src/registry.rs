//! The served models and their loading state: loading in the background after the server binds,
//! so `/health` answers at once and `/ready` turns 200 when every model is loaded.

use std::sync::{Arc, RwLock};

use crate::engine::{Engine, ModelInfo, ModelSpec, ServedModel};

/// Where a model is in its life.
#[derive(Clone)]
pub enum ModelState {
    /// Being loaded.
    Loading,
    /// Ready to serve.
    Ready(Arc<dyn ServedModel>),
    /// Loading failed (the message says why).
    Failed(String),
}

/// One configured model.
pub struct ModelEntry {
    /// What to load.
    pub spec: ModelSpec,
    state: RwLock<ModelState>,
}

impl ModelEntry {
    /// The current state.
    pub fn state(&self) -> ModelState {
        self.state
            .read()
            .map_or_else(|p| p.into_inner().clone(), |s| s.clone())
    }

    fn set(&self, state: ModelState) {
        match self.state.write() {
            Ok(mut slot) => *slot = state,
            Err(poisoned) => *poisoned.into_inner() = state,
        }
    }
}

/// All configured models; the first with `default` (or the first) answers requests that name none.
pub struct ModelRegistry {
    entries: Vec<ModelEntry>,
    default: usize,
}

impl ModelRegistry {
    /// A registry of `specs` (all loading); `default` indexes the default model.
    pub fn new(specs: Vec<ModelSpec>, default: usize) -> ModelRegistry {
        let default = default.min(specs.len().saturating_sub(1));
        ModelRegistry {
            entries: specs
                .into_iter()
                .map(|spec| ModelEntry {
                    spec,
                    state: RwLock::new(ModelState::Loading),
                })
                .collect(),
            default,
        }
    }

    /// A registry holding an already loaded model (for in-process use, and for tests with a
    /// model of their own).
    pub fn with_engine(spec: ModelSpec, model: Arc<dyn ServedModel>) -> ModelRegistry {
        let registry = ModelRegistry::new(vec![spec], 0);
        registry.entries[0].set(ModelState::Ready(model));
        registry
    }

    /// Loads every model that is still loading, one after the other (they share the CPU).
    pub async fn load_all(&self) {
        for entry in &self.entries {
            if !matches!(entry.state(), ModelState::Loading) {
                continue;
            }
            tracing::info!(
                "loading model `{}` from {}",
                entry.spec.id,
                entry.spec.path.display()
            );
            match Engine::load(&entry.spec).await {
                Ok(engine) => {
                    tracing::info!(
                        "model `{}` ready ({})",
                        entry.spec.id,
                        engine.info().quantization
                    );
                    entry.set(ModelState::Ready(Arc::new(engine)));
                }
                Err(error) => {
                    tracing::error!("model `{}` failed to load: {error}", entry.spec.id);
                    entry.set(ModelState::Failed(error.to_string()));
                }
            }
        }
    }

    /// The configured models.
    pub fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }

    /// Model ids, in configuration order.
    pub fn ids(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.spec.id.clone()).collect()
    }

    /// The entry for `model` (None = the default); None when no such model is configured.
    pub fn find(&self, model: Option<&str>) -> Option<&ModelEntry> {
        match model {
            None | Some("") => self.entries.get(self.default),
            Some(id) => self.entries.iter().find(|e| e.spec.id == id),
        }
    }

    /// True when every model is loaded.
    pub fn all_ready(&self) -> bool {
        self.entries
            .iter()
            .all(|e| matches!(e.state(), ModelState::Ready(_)))
    }

    /// Info of the loaded models.
    pub fn infos(&self) -> Vec<(String, &'static str, Option<ModelInfo>)> {
        self.entries
            .iter()
            .map(|entry| match entry.state() {
                ModelState::Ready(engine) => {
                    (entry.spec.id.clone(), "loaded", Some(engine.info().clone()))
                }
                ModelState::Loading => (entry.spec.id.clone(), "loading", None),
                ModelState::Failed(_) => (entry.spec.id.clone(), "failed", None),
            })
            .collect()
    }
}
