"""Configuration: typed model, layered sources, errors naming file, key and expected value."""

from __future__ import annotations

import difflib
import ipaddress
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import urlparse

import platformdirs
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator.workspace import ReadPolicy

WORKSPACE_FILE = ".deepthink.yaml"
KEY_VARIABLES = ("DEEPTHINK_API_KEY", "OPENAI_API_KEY")


class ConfigError(Exception):
    """A configuration source is malformed; the message names the source, key and expectation."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OutputTokens(_Section):
    """The most tokens one answer may take, per phase (sent as max_tokens)."""

    plan: int = Field(default=1024, ge=16, le=200_000)
    agent: int = Field(default=2048, ge=16, le=200_000)
    synthesis: int = Field(default=4096, ge=16, le=200_000)


class Price(_Section):
    """Dollars (or any currency) per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class ProviderConfig(_Section):
    base_url: str = "https://api.openai.com/v1"
    model: str = Field(default="gpt-4o-mini", min_length=1)
    # The *name* of the variable holding the key: keys never live in config files.
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # False: no key is sent (set for you when an untrusted workspace chooses a loopback URL).
    send_key: bool = True
    request_timeout: float = Field(default=120.0, gt=0, le=3600)
    max_retries: int = Field(default=3, ge=0, le=10)
    # Requests in flight at once to this endpoint, for every phase and job of the process;
    # 1 for a local server that answers one request at a time. None: no limit.
    max_concurrent_requests: int | None = Field(default=None, ge=1, le=256)
    # Tokens the model's context holds (prompt + answer); None: ask a local endpoint's
    # models list, else unknown.
    context_window: int | None = Field(default=None, ge=512, le=10_000_000)
    max_output_tokens: OutputTokens = OutputTokens()
    # Per model name; with them, results say what a run cost.
    prices: dict[str, Price] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("an http(s) URL such as https://api.openai.com/v1")
        return value.rstrip("/")


class OrchestratorConfig(_Section):
    parallel_agents: int = Field(default=4, ge=1, le=64)
    task_timeout: float = Field(default=300.0, gt=0, le=86400)
    synthesis_model: str | None = None
    # Wall-clock limit of decomposition, and of synthesis: request_timeout only bounds the
    # wait for each piece, so an endpoint sending a byte a second would never time out.
    phase_timeout: float | None = Field(default=None, gt=0, le=86400)  # null = task_timeout
    # Tokens (in + out) a run may spend; past it, agents stop before their next request.
    max_tokens: int | None = Field(default=None, ge=1)
    # heavy: plan, agents, synthesis and the passes after it; single: one call with the
    # same context, a baseline to compare heavy mode against.
    strategy: Literal["heavy", "single"] = "heavy"

    @property
    def phase_seconds(self) -> float:
        return self.phase_timeout or self.task_timeout


class AgentConfig(_Section):
    max_iterations: int = Field(default=8, ge=1, le=100)
    # A model asking for hundreds of calls at once (400 were seen) would otherwise grow every
    # later request without bound: calls past these are not run, and the model is told.
    max_tool_calls_per_turn: int = Field(default=16, ge=1, le=200)
    max_tool_output_chars: int = Field(default=400_000, ge=1000, le=10_000_000)  # per agent
    # Files agents may read although the secrets list or .gitignore hides them (only from
    # your own config), and files they may never read; gitignore pattern syntax.
    allow_paths: list[str] = Field(default_factory=list)
    deny_paths: list[str] = Field(default_factory=list)
    # None enables every discovered tool; a list restricts agents to those names.
    tools: list[str] | None = None

    def read_policy(self) -> ReadPolicy:
        return ReadPolicy(tuple(self.allow_paths), tuple(self.deny_paths))

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, names: list[str] | None) -> list[str] | None:
        from orchestrator.tools import discover_tools  # plugins load only when tools are named

        known = discover_tools()
        if names is not None and (unknown := [n for n in names if n not in known]):
            raise ValueError(
                f"tool names among {', '.join(sorted(known))} (unknown: {', '.join(unknown)})"
            )
        return names


class CouncilConfig(_Section):
    models: list[str] = Field(default_factory=list)
    # Before synthesis, each agent's model ranks the others' answers, blind; 3+ agents.
    rank: bool = False


class ReviewConfig(_Section):
    # Findings raised by fewer agents are left out (the synthesis' own count as one).
    min_agreement: int = Field(default=1, ge=1, le=64)
    # A call per finding that tries to refute it; refuted findings leave the diagnostics.
    verify: bool = True
    max_verified: int = Field(default=8, ge=0, le=100)  # the rest are kept unverified


class ContextConfig(_Section):
    max_tokens: int = Field(default=6000, ge=200, le=200_000)


class CacheConfig(_Section):
    enabled: bool = True


class TrustConfig(_Section):
    # Folders whose .deepthink.yaml may choose the endpoint and key variable.
    workspaces: list[str] = Field(default_factory=list)


class Config(_Section):
    provider: ProviderConfig = ProviderConfig()
    orchestrator: OrchestratorConfig = OrchestratorConfig()
    agent: AgentConfig = AgentConfig()
    council: CouncilConfig = CouncilConfig()
    review: ReviewConfig = ReviewConfig()
    context: ContextConfig = ContextConfig()
    cache: CacheConfig = CacheConfig()
    trust: TrustConfig = TrustConfig()

    def agent_model(self, index: int) -> str:
        """Council mode hands models to agents round-robin; otherwise every agent uses one."""
        models = self.council.models
        return models[index % len(models)] if models else self.provider.model

    @property
    def synthesis_model(self) -> str:
        return self.orchestrator.synthesis_model or self.provider.model


@dataclass(frozen=True)
class Source:
    """One layer of configuration and where it came from, for error messages."""

    name: str
    values: Mapping[str, Any]


def user_config_path() -> Path:
    return Path(platformdirs.user_config_dir("deepthink")) / "config.yaml"


# A config file is a few dozen lines; a repository's own one is not trusted to be sane.
MAX_CONFIG_BYTES = 256 * 1024
_MAX_NESTING = 20  # the schema needs 3 levels; 50,000 nested brackets exhausted the stack
_SHOWN_CHARS = 80  # of a value quoted in an error message


def read_yaml_source(path: Path) -> Source | None:
    """Read a YAML config file; a missing file is simply no layer.

    Only a regular file of at most MAX_CONFIG_BYTES is read (a link to /dev/zero or a FIFO
    would never end), and YAML aliases are refused: a few lines of them expand to billions
    of values (the "billion laughs").
    """
    text = _read_capped(path)
    if text is None:
        return None
    try:
        values = yaml.load(text, Loader=_ConfigLoader)  # a SafeLoader, so no Python objects
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {error}") from error
    if values is None:
        return Source(str(path), {})
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (provider:, orchestrator:, ...)")
    return Source(str(path), values)


def _read_capped(path: Path) -> str | None:
    try:
        # O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the file: {error.strerror}") from error
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise ConfigError(f"{path}: not a regular file; a config file must be one")
        data = os.read(descriptor, MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the file: {error.strerror}") from error
    finally:
        os.close(descriptor)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; not a config file")
    return data.decode("utf-8", errors="replace")


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader without aliases, and with nesting bounded before Python's stack is."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._refuse("YAML aliases (*name) are not allowed in config files")
        if self._depth >= _MAX_NESTING:
            self._refuse(f"nested more than {_MAX_NESTING} levels deep")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _refuse(self, problem: str) -> NoReturn:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        raise yaml.composer.ComposerError(None, None, problem, event.start_mark)


def shown(value: object) -> str:
    """A value quoted in an error message, never longer than a line."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else f"{text[: _SHOWN_CHARS - 1]}…"


def environment_source(env: Mapping[str, str]) -> Source:
    values: dict[str, Any] = {}
    base_url = env.get("DEEPTHINK_BASE_URL") or env.get("OPENAI_BASE_URL")
    if base_url:
        values["base_url"] = base_url
    if model := env.get("DEEPTHINK_MODEL"):
        values["model"] = model
    return Source("environment", {"provider": values} if values else {})


def load_config(
    workspace: Path | None = None,
    *,
    user_file: Path | None = None,
    overrides: list[Source] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Merge defaults, user file, workspace file, environment and overrides (later wins)."""
    env = os.environ if env is None else env
    user = read_yaml_source(user_file or user_config_path())
    sources: list[Source | None] = [user]
    if workspace is not None:
        sources.append(_untrusted(read_yaml_source(workspace / WORKSPACE_FILE), workspace, user))
    sources.append(environment_source(env))
    sources.extend(overrides or [])
    merged: dict[str, Any] = {}
    config = Config()
    keyless_url = None
    for source in sources:
        if source is None or not source.values:
            continue
        if isinstance(source, _KeylessSource):
            keyless_url = source.values["provider"]["base_url"]
        merged = _deep_merge(merged, source.values)
        # Validating after each layer pins an error on the layer that introduced it.
        config = validate(merged, source.name)
    if keyless_url is not None and config.provider.base_url == keyless_url.rstrip("/"):
        provider = config.provider.model_copy(update={"send_key": False})
        config = config.model_copy(update={"provider": provider})
    return config


class _KeylessSource(Source):
    """An untrusted workspace's layer that chose a loopback endpoint: it gets no key."""


def _untrusted(source: Source | None, workspace: Path, user: Source | None) -> Source | None:
    """A repository's own config must not send the user's key to a server of its choosing.

    A loopback endpoint is the user's own machine: the workspace may choose one, and no
    key is sent to it.
    """
    if source is None:
        return None
    if "trust" in source.values:
        raise ConfigError(
            f"{source.name}: trust: only your own config file ({user_config_path()}) "
            "can say which workspaces to trust"
        )
    chosen = user_only_keys(source.values)
    if not chosen:
        return source
    trusted = validate(user.values, user.name).trust.workspaces if user else []
    if any(_same_folder(workspace, folder) for folder in trusted):
        return source
    provider = source.values.get("provider")
    url = provider.get("base_url") if isinstance(provider, Mapping) else None
    if [key for key, _ in chosen] == ["provider.base_url"] and is_local_endpoint(str(url)):
        return _KeylessSource(source.name, source.values)
    key, why = chosen[0]
    raise ConfigError(
        f"{source.name}: {key}: an untrusted workspace may not {why} (a loopback URL such as "
        "http://localhost:8080/v1 it may choose: no key is sent there); put this setting in "
        f"your own config ({user_config_path()}) or the environment instead, or, if you "
        f"trust this repository, add {workspace.resolve()} to trust.workspaces there"
    )


# Keys that decide where the API key and the workspace's secrets go: only the user's own
# config (and a workspace they trust) may set them, never what comes with a repository.
_USER_ONLY_KEYS = {
    ("provider", "base_url"): "choose where your API key is sent",
    ("provider", "api_key_env"): "choose where your API key is sent",
    ("agent", "allow_paths"): "let agents read files that may hold secrets",
}


def user_only_keys(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The user-only keys a source sets, as (section.key, what setting it would do)."""
    return [
        (f"{section}.{key}", why)
        for (section, key), why in _USER_ONLY_KEYS.items()
        if isinstance(part := values.get(section), Mapping) and key in part
    ]


def _same_folder(workspace: Path, folder: str) -> bool:
    return workspace.resolve() == Path(folder).expanduser().resolve()


def validate(values: Mapping[str, Any], source_name: str) -> Config:
    try:
        return Config.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_describe(error, source_name)) from None


def resolve_api_key(config: Config, env: Mapping[str, str] | None = None) -> str | None:
    """The key from the configured variable, else DEEPTHINK_API_KEY, else OPENAI_API_KEY."""
    env = os.environ if env is None else env
    if not config.provider.send_key:
        return None
    names = (config.provider.api_key_env,) if config.provider.api_key_env else KEY_VARIABLES
    for name in names:
        if value := env.get(name, "").strip():
            return value
    return None


class MissingApiKey(ConfigError):
    """No key for an endpoint that needs one; the message names the variable to set."""


def api_key_to_send(config: Config, env: Mapping[str, str] | None = None) -> str:
    """The key the client sends: the user's, or a stand-in for a loopback endpoint, which
    ignores it (the openai client insists on one). Raises MissingApiKey otherwise."""
    key = resolve_api_key(config, env)
    if key is not None:
        return key
    if is_local_endpoint(config.provider.base_url):
        return "not-needed"
    if config.provider.api_key_env:
        hint = f"{config.provider.api_key_env} (named by provider.api_key_env)"
    else:
        variables = " or ".join(KEY_VARIABLES)
        hint = f"{variables} (or name another variable in provider.api_key_env)"
    raise MissingApiKey(f"no API key for {config.provider.base_url}: set {hint}")


def is_local_endpoint(base_url: str) -> bool:
    """Loopback endpoints (Ollama, llama.cpp, vLLM on this machine) usually need no key."""
    host = urlparse(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _deep_merge(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_MAX_PROBLEMS_SHOWN = 10


def _describe(error: ValidationError, source_name: str) -> str:
    lines = []
    problems = error.errors()
    for problem in problems[:_MAX_PROBLEMS_SHOWN]:
        key = ".".join(str(part)[:_SHOWN_CHARS] for part in problem["loc"])
        lines.append(f"{source_name}: {key}: {_expectation(problem, key)}")
    if len(problems) > _MAX_PROBLEMS_SHOWN:
        lines.append(f"{source_name}: … and {len(problems) - _MAX_PROBLEMS_SHOWN} more problems")
    return "\n".join(lines)


def _expectation(problem: Any, key: str) -> str:
    kind = problem["type"]
    given = problem.get("input")
    if kind == "extra_forbidden":
        return _unknown_key(key)
    if kind == "value_error":
        return f"expected {problem['ctx']['error']}, got {shown(given)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys, got {shown(given)}"
    message = problem["msg"]
    if message.startswith("Input should be "):
        message = message.removeprefix("Input should be ")
    return f"expected {message}, got {shown(given)}"


def _unknown_key(key: str) -> str:
    *section_path, name = key.split(".")
    model: type[BaseModel] = Config
    for part in section_path:
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    known = list(model.model_fields)
    if name == "api_key":
        return (
            "API keys do not belong in config files; put the key in an environment variable "
            "and name it with provider.api_key_env (default DEEPTHINK_API_KEY or OPENAI_API_KEY)"
        )
    if name == "max_concurrent_agents":
        return (
            "replaced by provider.max_concurrent_requests, which also counts the plan and "
            "the synthesis of every job"
        )
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown key (known keys: {', '.join(known)}){hint}"
