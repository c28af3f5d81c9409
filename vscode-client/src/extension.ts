// Starts the deepthink-lsp server (the one bundled in the VSIX, or a newer one already
// installed) and adds what a server can't do alone: the commands, prompting for a question,
// keeping the API key in secret storage, a status bar item and opening a result as a preview.
import { commands, ExtensionContext, LogOutputChannel, window, workspace } from 'vscode';
import { LanguageClient } from 'vscode-languageclient/node';
import { bundledServerPython, findBundle } from './bundledServer';
import { createClient } from './client';
import { registerCommands } from './commands';
import { findPython, onDidChangePythonInterpreter } from './interpreter';
import { RESULT_SCHEME, ResultDocument } from './result';
import { prefersInstalled } from './serverChoice';
import { SECTION } from './settings';
import { RunStatusBar } from './statusBar';

const API_KEY_SECRET = 'deepthink.apiKey';

let client: LanguageClient | undefined;
// Starts and stops run one at a time, in the order they were asked for.
let lifecycle: Promise<void> = Promise.resolve();

export async function activate(context: ExtensionContext): Promise<void> {
    const log = window.createOutputChannel('Deep think', { log: true });
    const resultDocument = new ResultDocument();
    const statusBar = new RunStatusBar();
    context.subscriptions.push(log, resultDocument, statusBar);

    const restart = (): Promise<void> => {
        lifecycle = lifecycle
            .then(async () => {
                await stopClient();
                client = await startClient(context, log, statusBar);
            })
            .catch((error: unknown) => {
                const message = error instanceof Error ? error.message : String(error);
                log.error(`The server failed to start: ${message}`);
                void window.showErrorMessage(message);
            });
        return lifecycle;
    };

    context.subscriptions.push(
        workspace.registerTextDocumentContentProvider(RESULT_SCHEME, resultDocument),
        ...registerCommands(async () => {
            await lifecycle;
            return client;
        }, resultDocument),
        commands.registerCommand('deepthink.setApiKey', () => setApiKey(context)),
        commands.registerCommand('deepthink.restart', restart),
        // The key reaches the server only through its environment, so a new key needs a new server.
        context.secrets.onDidChange((event) => {
            if (event.key === API_KEY_SECRET) {
                void restart();
            }
        }),
        workspace.onDidChangeConfiguration((event) => {
            if (event.affectsConfiguration(`${SECTION}.interpreter`)) {
                void restart();
            }
        }),
    );
    const pythonInterpreterChanged = await onDidChangePythonInterpreter();
    if (pythonInterpreterChanged) {
        context.subscriptions.push(
            pythonInterpreterChanged(() => {
                if (!workspace.getConfiguration(SECTION).inspect<string>('interpreter')?.globalValue) {
                    void restart();
                }
            }),
        );
    }
    await restart();
}

export async function deactivate(): Promise<void> {
    await lifecycle;
    await stopClient();
}

async function startClient(
    context: ExtensionContext,
    log: LogOutputChannel,
    statusBar: RunStatusBar,
): Promise<LanguageClient | undefined> {
    const python = await findPython(workspace.workspaceFolders?.[0]?.uri);
    if (python instanceof Error) {
        log.error(python.message);
        void window.showErrorMessage(python.message, 'Set interpreter').then((choice) => {
            if (choice) {
                void commands.executeCommand('workbench.action.openSettings', `${SECTION}.interpreter`);
            }
        });
        return undefined;
    }
    const bundle = findBundle(context.extensionPath);
    const installed = python.probe.server;
    let serverPython = python.path;
    if (bundle && !prefersInstalled(installed, bundle.version)) {
        const extensionVersion = String((context.extension.packageJSON as { version: unknown }).version);
        serverPython = await bundledServerPython(python, bundle, context.globalStorageUri.fsPath, extensionVersion, log);
        log.info(`Starting the bundled deepthink-lsp ${bundle.version} with ${serverPython} (made from ${python.path}, from ${python.source})`);
    } else if (installed) {
        log.info(`Starting deepthink-lsp ${installed}, installed for ${python.path} (from ${python.source})`);
    } else {
        throw new Error(
            `This build of the extension carries no server, and deepthink-lsp is not installed for ${python.path} ` +
                `(from ${python.source}). Install the extension's VSIX built with "npm run package", or the server into that Python.`,
        );
    }
    const started = createClient(serverPython, await context.secrets.get(API_KEY_SECRET), log, statusBar);
    await started.start();
    return started;
}

async function stopClient(): Promise<void> {
    const running = client;
    client = undefined;
    await running?.stop();
}

async function setApiKey(context: ExtensionContext): Promise<void> {
    const key = await window.showInputBox({
        title: 'Deep think: set API key',
        prompt: "The endpoint's API key, kept in VS Code's secret storage. Leave empty to remove it.",
        password: true,
        ignoreFocusOut: true,
    });
    if (key === undefined) {
        return;
    }
    // Storing fires secrets.onDidChange, which restarts the server with the new key.
    await (key.trim() ? context.secrets.store(API_KEY_SECRET, key.trim()) : context.secrets.delete(API_KEY_SECRET));
}
