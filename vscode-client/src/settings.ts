// The `deepthink.*` settings and how they reach the server. Pure functions, no `vscode` import,
// so they are unit-tested in plain Node.

export const SECTION = 'deepthink';

/** The flat VS Code settings that configure the server (`deepthink.<name>`). */
export const SERVER_SETTING_NAMES = [
    'model',
    'baseUrl',
    'parallelAgents',
    'taskTimeout',
    'synthesisModel',
    'councilModels',
    'output',
] as const;

export type ServerSettingName = (typeof SERVER_SETTING_NAMES)[number];

/**
 * Settings at `machine` scope: only the user's own settings may set them, never a workspace's
 * `.vscode/settings.json`, which comes with the repository. `baseUrl` is where the API key is
 * sent (the server refuses it from a workspace's `.deepthink.yaml` for the same reason).
 */
export const MACHINE_SETTINGS: ReadonlySet<ServerSettingName> = new Set(['baseUrl']);

/** The values of one setting at each level, as `WorkspaceConfiguration.inspect` gives them. */
export interface SettingValues {
    globalValue?: unknown;
    workspaceValue?: unknown;
    workspaceFolderValue?: unknown;
}

/**
 * The value someone set, the most specific level first; a contributed default counts as not
 * set (it would hide the YAML config's value). Machine settings come from the user's only.
 */
export function effectiveValue(name: ServerSettingName, values: SettingValues | undefined): unknown {
    if (MACHINE_SETTINGS.has(name)) {
        return values?.globalValue;
    }
    return values?.workspaceFolderValue ?? values?.workspaceValue ?? values?.globalValue;
}

/** Values as the user wrote them: settings.json may hold anything, the server validates. */
export type FlatSettings = Partial<Record<ServerSettingName, unknown>>;

/** The server's config shape: the keys of its YAML config, plus `output`. */
export interface ServerSettings {
    provider?: { base_url?: unknown; model?: unknown };
    orchestrator?: { parallel_agents?: unknown; task_timeout?: unknown; synthesis_model?: unknown };
    council?: { models?: unknown };
    output?: unknown;
}

/**
 * Nest the flat settings into the server's config shape.
 *
 * Unset values (missing, null, blank strings, empty lists) are left out rather than sent as
 * defaults, so that the workspace's `.deepthink.yaml` and the environment still apply.
 */
export function toServerSettings(flat: FlatSettings): ServerSettings {
    return (
        compact({
            provider: compact({ base_url: given(flat.baseUrl), model: given(flat.model) }),
            orchestrator: compact({
                parallel_agents: given(flat.parallelAgents),
                task_timeout: given(flat.taskTimeout),
                synthesis_model: given(flat.synthesisModel),
            }),
            council: compact({ models: given(flat.councilModels) }),
            output: given(flat.output),
        }) ?? {}
    );
}

/** The value to send, or undefined when it means "not set". Strings and lists are trimmed. */
function given(value: unknown): unknown {
    if (typeof value === 'string') {
        return value.trim() || undefined;
    }
    if (Array.isArray(value)) {
        const items = value
            .map((item: unknown) => (typeof item === 'string' ? item.trim() : item))
            .filter((item: unknown) => item !== '' && item !== null && item !== undefined);
        return items.length > 0 ? items : undefined;
    }
    return value ?? undefined;
}

/** The object without its undefined members; undefined if nothing is left. */
function compact<T extends object>(values: T): T | undefined {
    const present = Object.entries(values).filter(([, value]) => value !== undefined);
    return present.length > 0 ? (Object.fromEntries(present) as T) : undefined;
}

/**
 * The interpreter path from the `deepthink.interpreter` setting, with `${workspaceFolder}`,
 * `${userHome}` and a leading `~` expanded; undefined when the setting is empty.
 */
export function expandInterpreterSetting(
    setting: string,
    workspaceFolder: string | undefined,
    userHome: string,
): string | undefined {
    let path = setting.trim();
    if (!path) {
        return undefined;
    }
    if (path === '~' || path.startsWith('~/')) {
        path = userHome + path.slice(1);
    }
    path = path.replaceAll('${userHome}', userHome);
    if (workspaceFolder !== undefined) {
        path = path.replaceAll('${workspaceFolder}', workspaceFolder);
    }
    return path;
}
