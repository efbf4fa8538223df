"""Everything a request may need, built once at start from the settings: the specs, the registry, the
lake, the landing area, the event bus, the service's store, the keys and the models being served."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import httpx

from events.envelope import make_event
from pipelines.spec import SPECS_DIR, AnySpec
from resources.clients import clients_from_settings
from resources.events import EventBus, RabbitEventBus
from resources.lake_store import Lake
from resources.mlflow_registry import MlflowRegistry
from resources.object_store import ObjectStore
from resources.settings import PlatformSettings
from resources.spec_registry import LoadedSpecs, load_all_specs
from resources.unavailable import ServiceUnavailable
from serving.auth import KeyRing
from serving.batching import MicroBatcher
from serving.champions import ChampionStore, PromotionListener
from serving.config import ServingSettings
from serving.dagster_api import DagsterClient
from serving.forecasts import LakeViews
from serving.model_versions import VersionCatalog
from serving.observations import Observations
from serving.store import Store

log = logging.getLogger("mlops.api")
SOURCE = "mlops-platform/api"  # the publisher named in the events the API sends


@dataclass
class Platform:
    settings: PlatformSettings
    serving: ServingSettings
    specs: dict[str, AnySpec]
    registry: MlflowRegistry
    lake_views: LakeViews
    landing: ObjectStore
    events: EventBus
    store: Store
    keys: KeyRing
    champions: ChampionStore
    listener: PromotionListener | None
    batcher: MicroBatcher
    dagster: httpx.AsyncClient
    dagster_api: DagsterClient
    observations: Observations
    versions: VersionCatalog
    broken_specs: dict[str, str]
    _background: asyncio.Task | None = None
    _watching: asyncio.Task | None = None

    @classmethod
    def build(cls, settings: PlatformSettings, serving: ServingSettings) -> Platform:
        clients = clients_from_settings(settings, source=SOURCE)
        loaded = load_all_specs(settings.specs_dir or SPECS_DIR, clients.landing)
        specs = loaded.specs
        champions = ChampionStore(specs, clients.registry, serving.refresh_seconds)
        events = clients.events
        listener = (
            PromotionListener(events.url, events.exchange, champions)
            if isinstance(events, RabbitEventBus)
            else None
        )
        lake = Lake(clients.lake.root())
        dagster = httpx.AsyncClient(base_url=serving.dagster_url, timeout=5.0)
        return cls(
            settings=settings,
            serving=serving,
            specs=specs,
            registry=clients.registry,
            lake_views=LakeViews(lake),
            landing=clients.landing,
            events=events,
            store=Store(serving.db_url()),
            keys=KeyRing(serving.keys_path()),
            champions=champions,
            listener=listener,
            batcher=MicroBatcher(champions.get, serving.batch_wait_ms / 1000, serving.batch_max_rows),
            dagster=dagster,
            dagster_api=DagsterClient(dagster, serving.dagster_url),
            observations=Observations(lake),
            versions=VersionCatalog(clients.registry),
            broken_specs=loaded.broken,
        )

    def reload_specs(self) -> LoadedSpecs:
        """Re-read the built-in and registered specs; new pipelines are served, removed ones no longer
        (their data and models stay). One assignment each, so a request sees the old set or the new."""
        loaded = load_all_specs(self.settings.specs_dir or SPECS_DIR, self.landing)
        added = set(loaded.specs) - set(self.specs)
        self.specs = loaded.specs
        self.champions.specs = loaded.specs
        self.broken_specs = loaded.broken
        for name in added:
            for task in loaded.specs[name].tasks:
                self.champions.wake((name, task.name))
        return loaded

    async def _watch_specs(self) -> None:
        """Every refresh interval: specs registered through another worker or instance are picked up."""
        while True:
            await asyncio.sleep(self.serving.refresh_seconds)
            try:
                await asyncio.to_thread(self.reload_specs)
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("re-reading the pipeline specs failed")

    def publish_feedback(self, row: dict) -> bool:
        """Announce one stored feedback row as `feedback.recorded` (its id fixed, so a re-send is the same
        event); False, and left for the next try, while the broker is away."""
        envelope = make_event(
            "feedback.recorded",
            {k: row[k] for k in ("prediction_id", "observed", "pipeline", "target")},
            source=self.events.source,
            trace_id=row.get("trace_id") or None,
        ).model_copy(update={"id": row["event_id"]})
        try:
            self.events.send(envelope)
        except ServiceUnavailable:
            return False
        self.store.mark_published(row["event_id"])
        return True

    async def _resend_feedback(self, every: float = 10.0) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                for row in await asyncio.to_thread(self.store.unpublished_feedback):
                    if not await asyncio.to_thread(self.publish_feedback, row):
                        break
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("re-sending feedback failed")

    async def start(self) -> None:
        await asyncio.to_thread(self.champions.refresh)
        loaded = [f"{c.model_name} v{c.version}" for c in self.champions.all().values()]
        log.info(
            "serving %s", ", ".join(loaded) or "no model yet (nothing promoted, or the registry is down)"
        )
        self.champions.start()
        self._background = asyncio.get_running_loop().create_task(self._resend_feedback())
        self._watching = asyncio.get_running_loop().create_task(self._watch_specs())
        if self.listener is not None:
            self.listener.start()

    async def stop(self) -> None:
        for task in (self._background, self._watching):
            if task is not None:
                task.cancel()
        await self.batcher.close()
        if self.listener is not None:
            await asyncio.to_thread(self.listener.stop)
        await asyncio.to_thread(self.champions.stop)
        await self.dagster.aclose()
        await asyncio.to_thread(self.events.close)
        with contextlib.suppress(Exception):
            self.store.close()
