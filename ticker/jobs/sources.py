"""A configured source: a name (what `fetches.source` stores), a kind (ticker.kinds), its
channels in fallback order, addresses and options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ticker.kinds import BadSourceConfig, Channel, Kind, UnknownSource, get_kind, kinds

BUILTIN_SOURCES = ("rbc", "cbr")  # the embedded default: RBC and the Bank of Russia

__all__ = ["BUILTIN_SOURCES", "BadSourceConfig", "SourceSpec", "UnknownSource", "builtin_source"]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One configured source: `name` is what `fetches.source` stores."""

    name: str
    kind: str
    url: str | None = None  # replaces the main channel's address
    every_s: float | None = None
    channels: tuple[str, ...] = ()
    urls: tuple[tuple[str, str], ...] = ()  # (channel, address) for other channels (mirrors, tests)
    options: Mapping[str, Any] = field(default_factory=dict, compare=False)  # the kind's own keys
    min_items_override: int | None = None  # `min_items` in the config: the main channel's least count

    def __post_init__(self) -> None:
        kind = get_kind(self.kind)
        if not self.channels:
            object.__setattr__(self, "channels", (kind.main.name,))
        for channel in (*self.channels, *(channel for channel, _ in self.urls)):
            if channel not in kind.channel_names:
                raise UnknownSource(
                    f"source {self.name!r}: kind {self.kind!r} has no channel {channel!r} "
                    f"(it has: {', '.join(kind.channel_names)})"
                )
        for channel in self.channels:
            if not kind.channel(channel).live:
                polled = ", ".join(c.name for c in kind.channels if c.live)
                raise UnknownSource(
                    f"source {self.name!r}: channel {channel!r} is read by backfills only "
                    f"(polled channels: {polled})"
                )

    @property
    def kind_def(self) -> Kind:
        return get_kind(self.kind)

    def channel(self, name: str) -> Channel:
        return self.kind_def.channel(name)

    @property
    def main_channel(self) -> str:
        return self.kind_def.main.name

    @property
    def ticker_channel(self) -> str | None:
        """The channel whose list is this source's ticker (None: rates only)."""
        return self.kind_def.ticker_channel

    @property
    def interval_s(self) -> float:
        return self.every_s or self.kind_def.every_s

    def url_for(self, channel: str) -> str:
        """The address of a channel: the configured one (`url` for the main channel, `urls` for
        any), else what the kind's options give (a preset), else the kind's default."""
        if self.url and channel == self.main_channel:
            return self.url
        configured = dict(self.urls).get(channel)
        if configured:
            return configured
        kind = self.kind_def
        if channel == self.main_channel and kind.url_from_options is not None:
            from_options = kind.url_from_options(self.options)
            if from_options:
                return from_options
        address = kind.channel(channel).url
        if address is None:
            raise UnknownSource(f"source {self.name!r}: channel {channel!r} has no default address: set url")
        return address

    @property
    def gap_limit_s(self) -> float:
        """Longer than this between two successful polls, an exit's reason cannot be known."""
        every = self.interval_s
        return max(2.5 * every, every + 60.0)

    def recorded_options(self) -> dict[str, Any]:
        """The kind's options and `min_items`, as the `sources` table keeps them (JSON)."""
        recorded = dict(self.options)
        if self.min_items_override is not None:
            recorded["min_items"] = self.min_items_override
        return recorded

    def min_items(self, channel: str) -> int:
        if self.min_items_override is not None and channel == self.main_channel:
            return self.min_items_override
        return self.channel(channel).min_items


def builtin_source(name: str) -> SourceSpec:
    """The embedded defaults: `rbc` (RBC main page) and `cbr` (Bank of Russia daily XML)."""
    if name not in BUILTIN_SOURCES:
        raise UnknownSource(
            f"unknown source {name!r} (built in: {', '.join(BUILTIN_SOURCES)}; "
            "others come from a config file: --config FILE)"
        )
    kind = get_kind(name)
    return SourceSpec(name=name, kind=name, every_s=kind.every_s)


def spec_from_record(recorded: dict) -> SourceSpec:
    """A SourceSpec from its `sources` row (ticker.db.writes.recorded_sources), the kind's
    options checked again; addresses are the kind's (a recorded one is redacted)."""
    kind = get_kind(recorded["kind"])
    options = dict(recorded.get("options") or {})
    min_items = options.pop("min_items", None)
    where = f"sources.{recorded['name']}"
    checked = {
        key: kind.options[key](value, f"{where}.{key}")
        for key, value in options.items()
        if key in kind.options
    }
    channels = tuple(
        c for c in recorded.get("channels") or () if c in kind.channel_names and kind.channel(c).live
    )
    return SourceSpec(
        name=recorded["name"], kind=kind.name, every_s=recorded.get("every_s"), channels=channels,
        options=checked, min_items_override=min_items,
    )  # fmt: skip


def known_kinds() -> tuple[str, ...]:
    return tuple(kinds())
