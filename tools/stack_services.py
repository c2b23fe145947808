"""A new project's services in the monorepo stack (docker/docker-compose.yml), added as text.

The file is edited as text, not re-dumped from YAML, so its comments, anchors and
hand-made layout survive; the new block reads like the blocks of the projects before it.
"""

from __future__ import annotations

from pathlib import Path

from tools.errors import ToolError

STACK = Path("docker/docker-compose.yml")
STACK_SERVICES = """\
  {name}-init:
    <<: *model-init
    image: medai/{name}:${{TAG:-dev}}-train
    build: {{<<: *project-build, target: train, args: {{PROJECT: {name}}}}}
    volumes: [{name}-models:/models]

  {name}:
    <<: *model-server
    image: medai/{name}:${{TAG:-dev}}-serve
    build: {{<<: *project-build, target: serve, args: {{PROJECT: {name}}}}}
    depends_on: {{{name}-init: {{condition: service_completed_successfully}}}}
    volumes: [{name}-models:/models:ro]

"""
"""A project's model init step (writes the model into its volume) and its server."""


def add_to_stack(root: Path, name: str) -> None:
    """Add the project's model init step and server to the monorepo stack (docker/).

    The services go last in ``services:`` (just before the top-level ``secrets:``) and
    the model volume last in ``volumes:`` (the file's last section), so the file stays
    hand-editable and the new block reads like the ones before it. A repo without the
    stack file is left as it is.

    Raises:
        ToolError: The stack file does not have that shape (status 2): add the block by hand.
    """
    path = root / STACK
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    volumes_at = text.rfind("\nvolumes:\n")
    if "\nsecrets:\n" not in text or volumes_at < 0 or f"\n  {name}:\n" in text:
        raise ToolError(
            f"{STACK}: cannot add {name}'s services (expected top-level `secrets:` and a last "
            f"`volumes:` section, and no service {name!r} yet); add them by hand"
        )
    services = STACK_SERVICES.format(name=name)
    text = text.replace("\nsecrets:\n", f"\n{services}secrets:\n", 1)
    path.write_text(text.rstrip("\n") + f"\n  {name}-models:\n", encoding="utf-8")
