//! The publisher the app holds: it starts the two tasks of MQTT delivery —
//! the connection task ([`super::connection`]) and the delivery task
//! ([`super::delivery`]) — tells whether both still run, and stops them:
//! what the outbox holds is delivered while the broker is reachable, the
//! box says `offline` and disconnects, and whatever is not acknowledged by
//! the deadline stays in the outbox for the next start.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::connection;
use super::delivery::{self, PublisherStatus, StatsSource};
use super::link::SideLink;
use super::mqtt::{MqttPlan, WINDOW};
use super::options::{PublishError, all_options};
use super::outbox::Outbox;
use super::status::StatusSource;

/// The running publisher.
pub struct Publisher {
    status: Arc<PublisherStatus>,
    stop: CancellationToken,
    delivery: JoinHandle<()>,
    link: JoinHandle<()>,
}

impl Publisher {
    /// Starts the link and delivery tasks on the current tokio runtime.
    pub fn spawn(plan: MqttPlan, outbox: Arc<Outbox>, stats: StatsSource) -> Result<Self, PublishError> {
        Self::spawn_with(plan, outbox, stats, None, None)
    }

    /// [`Self::spawn`], also publishing each camera's retained status from
    /// `cameras`, and carrying the control task's traffic over `side`.
    pub fn spawn_with(
        plan: MqttPlan,
        outbox: Arc<Outbox>,
        stats: StatsSource,
        cameras: Option<StatusSource>,
        side: Option<SideLink>,
    ) -> Result<Self, PublishError> {
        let brokers = all_options(&plan)?
            .into_iter()
            .map(|(endpoint, options)| (endpoint.url, options))
            .collect();
        let (client, rx, link) = connection::spawn(brokers, WINDOW * 4, plan.keys.retry_max_secs);
        let status = Arc::new(PublisherStatus::default());
        let stop = CancellationToken::new();
        let delivery = delivery::start(
            client,
            rx,
            outbox,
            plan,
            status.clone(),
            stats,
            cameras,
            side,
            stop.clone(),
        );
        Ok(Self {
            status,
            stop,
            delivery,
            link,
        })
    }

    pub fn status(&self) -> Arc<PublisherStatus> {
        self.status.clone()
    }

    /// Whether both tasks still run (the service watchdog checks it).
    pub fn is_running(&self) -> bool {
        !self.delivery.is_finished() && !self.link.is_finished()
    }

    /// Delivers what the outbox holds while the broker is reachable, marks
    /// the box offline and disconnects, waiting at most `grace`. Whatever is
    /// not acknowledged by then stays in the outbox for the next start.
    pub async fn shutdown(self, grace: Duration) {
        self.stop.cancel();
        let Self {
            mut delivery, mut link, ..
        } = self;
        if tokio::time::timeout(grace, &mut delivery).await.is_err() {
            tracing::warn!(
                "MQTT delivery did not finish before the stop deadline; undelivered events stay in the outbox"
            );
            delivery.abort();
        }
        if tokio::time::timeout(Duration::from_secs(1), &mut link).await.is_err() {
            link.abort();
        }
    }
}
