"""The ids ``/v1/models`` lists: each the shortest prefix (at least 8) that no other app's id has,
computed from one sort — held equal to the definition, checking every pair, on ids that share
long prefixes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from magec.agents.apps import App, AppStatus
from magec.api.user.openai.model_ids import PREFIX, listed_ids


def _by_definition(app: App, apps: list[App]) -> str:
    own = app.id.replace("-", "")
    others = [a.id.replace("-", "") for a in apps if a.id != app.id]
    n = PREFIX
    while n < len(own) and any(o.startswith(own[:n]) for o in others):
        n += 1
    return own[:n]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text("ab0", min_size=10, max_size=14), min_size=1, max_size=12, unique=True))
def test_listed_prefixes_are_the_shortest_unique_ones(ids: list[str]) -> None:
    apps = [App(id=i, name=f"Agent {i}", kind="agent", status=AppStatus(valid=True)) for i in ids]
    listed = listed_ids(apps)
    for a in apps:
        assert listed[a.id].rsplit("-", 1)[1] == _by_definition(a, apps), (a.id, listed)
