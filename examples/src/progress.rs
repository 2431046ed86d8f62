//! Progress on a terminal (indicatif): fetches (objects, bytes), the applications of a pass
//! done, `--wait`'s countdown. Silent when standard error is not a terminal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress display of a program, or nothing off a terminal.
#[derive(Clone, Default)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").field("shown", &self.shown()).finish()
    }
}

impl Progress {
    /// Shown when standard error is a terminal.
    pub fn on_terminal() -> Self {
        use std::io::IsTerminal;
        Self::new(std::io::stderr().is_terminal())
    }

    /// Shown or not.
    pub fn new(shown: bool) -> Self {
        Self { multi: shown.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())) }
    }

    /// Whether anything is shown.
    pub fn shown(&self) -> bool {
        self.multi.is_some()
    }

    /// A bar of `len` steps.
    pub fn bar(&self, len: u64, message: &str) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let bar = multi.add(ProgressBar::new(len));
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        Some(bar)
    }

    /// A spinner with a message.
    pub fn spinner(&self, message: &str) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let bar = multi.add(ProgressBar::new_spinner());
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Some(bar)
    }

    /// The fetch reporter for [`gitops_git::GitSource::with_progress`]: a line per fetch with
    /// its objects and bytes, gone when it ends.
    pub fn fetches(&self) -> Option<gitops_git::ProgressFn> {
        let me = self.clone();
        self.multi.as_ref()?;
        let bars: Arc<Mutex<HashMap<String, ProgressBar>>> = Arc::default();
        Some(Arc::new(move |p: &gitops_git::FetchProgress| {
            let mut bars = bars.lock().expect("bars lock");
            if p.finished {
                if let Some(bar) = bars.remove(&p.repo_url) {
                    bar.finish_and_clear();
                }
                return;
            }
            let bar = bars
                .entry(p.repo_url.clone())
                .or_insert_with(|| me.spinner(&format!("fetching {}", p.repo_url)).unwrap_or_else(ProgressBar::hidden));
            bar.set_message(format!(
                "fetching {}: {} objects, {}",
                p.repo_url,
                p.objects,
                indicatif::HumanBytes(p.bytes as u64)
            ));
        }))
    }
}
