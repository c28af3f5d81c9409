// The language client: how the server is started and what the extension adds to the protocol.
import { CodeAction, Command, LogOutputChannel, Uri, workspace } from 'vscode';
import {
    DidChangeConfigurationNotification,
    LanguageClient,
    LanguageClientOptions,
    ResponseError,
    ServerOptions,
} from 'vscode-languageclient/node';
import { PYTHON_FLAGS } from './interpreter';
import { NotificationProgressFeature } from './progress';
import { RunStatusBar } from './statusBar';
import { effectiveValue, FlatSettings, SECTION, SERVER_SETTING_NAMES, ServerSettings, toServerSettings } from './settings';

export const RUN_COMMAND = 'deepthink.run';
export const ASK_COMMAND = 'deepthink.askWithPrompt';

/** The one argument of the server's `deepthink.run` command. */
export interface RunArguments {
    uri: string;
    /** Required except for review-diff, where it only says where the summary goes. */
    range?: { start: { line: number; character: number }; end: { line: number; character: number } };
    mode: 'explain' | 'review' | 'ask' | 'review-diff';
    question?: string;
    output?: 'comment' | 'hover';
    /** review-diff only: this file's changes (the default) or every change in the repository. */
    scope?: 'file' | 'workspace';
}

export function createClient(
    python: string,
    apiKey: string | undefined,
    outputChannel: LogOutputChannel,
    statusBar: RunStatusBar,
): LanguageClient {
    const env = { ...process.env };
    if (apiKey) {
        // The environment is the key's only way to the server: settings, initializationOptions
        // and every message appear in the LSP trace.
        env.DEEPTHINK_API_KEY = apiKey;
    }
    const serverOptions: ServerOptions = {
        command: python,
        args: [...PYTHON_FLAGS, '-m', 'server'],
        options: { env, cwd: workspace.workspaceFolders?.[0]?.uri.fsPath },
    };
    const clientOptions: LanguageClientOptions = {
        documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
        outputChannel,
        middleware: {
            workspace: {
                configuration: async (params, token, next) => {
                    const values: unknown[] | ResponseError<void> = await next(params, token);
                    if (values instanceof ResponseError) {
                        return values;
                    }
                    return params.items.map((item, index) =>
                        item.section === SECTION ? serverSettings(item.scopeUri) : values[index],
                    );
                },
                // Sent when `deepthink.*` settings change, once the server registers for it. The
                // server pulls its settings again; the payload is in its shape, not VS Code's.
                didChangeConfiguration: async () => {
                    try {
                        await client.sendNotification(DidChangeConfigurationNotification.type, {
                            settings: { [SECTION]: serverSettings() },
                        });
                    } catch (error) {
                        // A change of the interpreter stops this client for a new one, maybe
                        // while this was sent: no error toast for a client on its way out.
                        if (client.isRunning()) {
                            throw error;
                        }
                    }
                },
            },
            provideCodeActions: async (document, range, context, token, next) => {
                const actions = await next(document, range, context, token);
                return actions?.map((action) => (action instanceof CodeAction ? promptForQuestion(action) : action));
            },
            resolveCodeAction: async (item, token, next) => {
                const action = await next(item, token);
                return action && promptForQuestion(action);
            },
        },
    };
    const client = new LanguageClient('deepthink', 'Deep think', serverOptions, clientOptions);
    client.registerFeature(new NotificationProgressFeature(client, statusBar));
    return client;
}

/** The server's view of the `deepthink.*` settings for a resource (or the window). */
function serverSettings(scopeUri?: string): ServerSettings {
    const config = workspace.getConfiguration(SECTION, scopeUri ? Uri.parse(scopeUri) : undefined);
    const flat: FlatSettings = {};
    for (const name of SERVER_SETTING_NAMES) {
        flat[name] = effectiveValue(name, config.inspect(name));
    }
    return toServerSettings(flat);
}

/**
 * VS Code can't prompt from inside a server command, so "Deep think: ask…" without a
 * question runs our command, which asks first and then runs the server's.
 */
function promptForQuestion(action: CodeAction): CodeAction {
    const command: Command | undefined = action.command;
    const args = command?.arguments?.[0] as RunArguments | undefined;
    if (command?.command === RUN_COMMAND && args?.mode === 'ask' && !args.question) {
        action.command = { ...command, command: ASK_COMMAND };
    }
    return action;
}
