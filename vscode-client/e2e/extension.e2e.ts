// The extension in a real VS Code (code-server) in a real browser, against the real server and
// the scripted LLM server. Run through scripts/e2e.sh, which builds the VSIX with the server
// bundled and installs code-server. The extension gets a Python without deepthink-lsp: the
// server it runs is the one it carries.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Browser, Page } from 'playwright-core';
import {
    artifactsDir,
    establishedConnections,
    filesUnder,
    launchChromium,
    LlmRule,
    makeTempDir,
    processEnvironments,
    python,
    startCodeServer,
    startLlmServer,
    Started,
    waitFor,
} from './harness';

const run = promisify(execFile);

const SAMPLE = 'def divide(a, b):\n    return a / b\n\n\nprint(divide(1, 0))\n';
const SYNTHESIS = 'E2E synthesis: divide() raises ZeroDivisionError when b is 0 (`a.py:2`).';
const REVIEW = 'E2E review: divide() needs a guard for b == 0.';
const REVIEW_FINDING = 'E2E finding: division by zero when b is 0';
const DIFF_REVIEW = 'E2E diff review: the change only adds comments.';
const DIFF_FINDING = 'E2E diff finding: the added comment restates the code';
const AGENTS = 2; // deepthink.parallelAgents below: the plan rules only match if it arrived
const API_KEY = `sk-e2e-${randomBytes(12).toString('hex')}`;
const EXTENSION_VERSION = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
const WAIT = 60_000;
const INSTALL_WAIT = 240_000; // the first start installs the bundled server: slow on a busy machine

const QUESTION = 'Why does this print fail?';
const plan = (tag: string) =>
    JSON.stringify({
        subtasks: [
            { role: 'semantics', question: `${tag} What does divide() compute?` },
            { role: 'failures', question: `${tag} When does divide() fail?` },
        ],
    });
const findings = (items: object[]) => `\n\n\`\`\`findings\n${JSON.stringify(items)}\n\`\`\`\n`;

// Phrases from orchestrator/prompts.py, as in tests/scenarios.py. The first rule that matches
// answers, so the specific ones come first. Each run's plan tags its sub-questions, and the
// agents' answers carry the tag on into the synthesis.
const rules: LlmRule[] = [
    // The skeptic pass of a review confirms every finding.
    { match: 'Try to refute it', reply: { content: '{"verdict": "confirmed", "reason": "the code shows it"}' } },
    // Syntheses: the review of the diff (its agents answered DIFF-ANSWER), a review, the rest.
    {
        match: 'DIFF-ANSWER',
        reply: { content: DIFF_REVIEW + findings([{ path: 'a.py', start_line: 1, end_line: 1, severity: 'info', message: DIFF_FINDING }]) },
    },
    {
        match: 'This is a code review',
        reply: { content: REVIEW + findings([{ path: 'a.py', start_line: 5, end_line: 5, severity: 'warning', message: REVIEW_FINDING }]) },
    },
    { match: 'lead engineer', reply: { content: SYNTHESIS } },
    // Agents: the ask run's never answer in time (that run is cancelled); the others answer
    // after a moment, long enough to see the progress.
    { match: 'SLOW', reply: { content: 'too late', delay: 120 } },
    { match: 'DIFF', reply: { content: 'DIFF-ANSWER: only comments were added.', delay: 2 } },
    { match: 'Your sub-question', reply: { content: 'It fails when b is 0 (`a.py:2`).', delay: 3 } },
    // Plans. The ask run is planned only if the question typed in the input box reached the LLM.
    { match: QUESTION, reply: { content: plan('SLOW') } },
    { match: '# Diff', reply: { content: plan('DIFF') } },
    { match: `plan the work of ${AGENTS} specialist agents`, reply: { content: plan('') } },
];

describe('Deep think in VS Code (code-server 4.100.3, Chromium), with its bundled server', () => {
    const dir = makeTempDir();
    const folder = join(dir, 'project');
    const barePython = join(dir, 'bare-venv', 'bin', 'python');
    const started: Started[] = [];
    const decoyRequests: string[] = [];
    let decoy: Server | undefined;
    let serverCommand: string[] = [];
    let userDataDir = '';
    let llmBaseUrl = '';
    let llmPort = 0;
    let browser: Browser | undefined;
    let page: Page;
    let shot = 0;

    async function screenshot(name: string): Promise<void> {
        shot += 1;
        await page.screenshot({ path: join(artifactsDir, `${String(shot).padStart(2, '0')}-${name}.png`) });
    }

    before(async () => {
        rmSync(artifactsDir, { recursive: true, force: true });
        mkdirSync(artifactsDir, { recursive: true });
        mkdirSync(join(folder, '.vscode'), { recursive: true });
        writeFileSync(join(folder, 'a.py'), SAMPLE);
        // A repository whose a.py is committed: the explain's comment is the uncommitted diff.
        const git = (...args: string[]) => run('git', ['-C', folder, '-c', 'user.name=e2e', '-c', 'user.email=e2e@localhost', ...args]);
        await git('init', '-q');
        await git('add', 'a.py');
        await git('commit', '-q', '-m', 'a.py');

        // A Python 3.11+ without deepthink-lsp: what a new user has.
        await run(python, ['-m', 'venv', '--without-pip', join(dir, 'bare-venv')]);
        await assert.rejects(run(barePython, ['-P', '-c', 'import server']), 'the bare Python must not have the server');
        const { stdout } = await run(barePython, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])']);

        // The repository's own settings try to send the key elsewhere: this server must never
        // be asked anything.
        decoy = createServer((request, response) => {
            decoyRequests.push(`${request.method} ${request.url}`);
            response.writeHead(500).end();
        });
        decoy.listen(0, '127.0.0.1');
        await once(decoy, 'listening');
        const decoyPort = (decoy.address() as { port: number }).port;
        writeFileSync(
            join(folder, '.vscode', 'settings.json'),
            JSON.stringify({ 'deepthink.baseUrl': `http://127.0.0.1:${decoyPort}/v1` }, null, 2),
        );

        const llm = await startLlmServer(rules, dir);
        started.push(llm);
        llmBaseUrl = llm.baseUrl;
        llmPort = Number(new URL(llm.baseUrl).port);
        const env: NodeJS.ProcessEnv = {
            ...process.env,
            DEEPTHINK_BASE_URL: llm.baseUrl,
            // The user's config and result cache stay out of the test.
            XDG_CONFIG_HOME: join(dir, 'xdg-config'),
            XDG_CACHE_HOME: join(dir, 'xdg-cache'),
            XDG_DATA_HOME: join(dir, 'xdg-data'),
        };
        // The key must come from the extension's secret storage only.
        delete env.DEEPTHINK_API_KEY;
        delete env.OPENAI_API_KEY;
        const userSettings = {
            'deepthink.interpreter': barePython,
            'deepthink.parallelAgents': AGENTS,
            'deepthink.trace.server': 'verbose',
            'workbench.startupEditor': 'none',
            'workbench.tips.enabled': false,
            'security.workspace.trust.enabled': false,
            'telemetry.telemetryLevel': 'off',
            'extensions.autoCheckUpdates': false,
            'extensions.autoUpdate': false,
            'update.mode': 'none',
            'editor.hover.delay': 200,
            'editor.hover.above': false, // below the code: the inserted comment stays in sight
            'workbench.reduceMotion': 'on', // screenshots without half-faded widgets
        };
        const codeServer = await startCodeServer({ dir, folder, env, userSettings });
        started.push(codeServer);
        userDataDir = codeServer.userDataDir;
        const environment = join(userDataDir, 'User', 'globalStorage', 'deepthink.deepthink-lsp', `server-${EXTENSION_VERSION}-py${stdout.trim()}`);
        serverCommand = [join(environment, 'bin', 'python'), '-P', '-m', 'server'];

        browser = await launchChromium();
        page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        await page.goto(codeServer.url);
        await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'a.py' }).waitFor({ timeout: WAIT });
        await screenshot('workbench');
    });

    afterEach(async (context) => {
        const slug = context.name.split(/[,:]/)[0].replaceAll(/\W+/g, '-');
        await page?.screenshot({ path: join(artifactsDir, `after-${slug}.png`) });
    });

    after(async () => {
        await browser?.close();
        for (const process of started.reverse()) {
            await process.stop();
        }
        decoy?.close();
        if (userDataDir) {
            // code-server's and the extension's logs (with the LSP trace) are artefacts too.
            cpSync(join(userDataDir, 'logs'), join(artifactsDir, 'logs'), { recursive: true });
        }
        rmSync(dir, { recursive: true, force: true });
    });

    it('opening a Python file installs the bundled server on first use, with a notification', async () => {
        await openFile('a.py'); // activation: onLanguage:python
        const installing = page.locator('.notifications-toasts .notification-list-item', { hasText: 'installing its server' });
        await installing.waitFor({ timeout: WAIT });
        await screenshot('installing-server');
        await waitFor(
            () => processEnvironments(serverCommand).size > 0,
            INSTALL_WAIT,
            () => `no server running from the private environment: ${serverCommand.join(' ')}`,
        );
        await installing.waitFor({ state: 'detached', timeout: WAIT });
    });

    it('sets the API key from the palette; it reaches the server through its environment only', async () => {
        // Trace every log, the LSP messages in the extension's included: a later test looks for
        // the key there.
        await runPaletteCommand('Developer: Set Log Level...');
        await chooseQuickPick('Trace');

        await runPaletteCommand('Deep think: Set API key');
        const input = page.locator('.quick-input-widget input[type="password"]');
        await input.waitFor({ timeout: WAIT });
        await input.fill(API_KEY);
        await screenshot('api-key-prompt');
        await input.press('Enter');
        await waitFor(
            () => serverWithKey() !== undefined,
            WAIT,
            () => `no server process with the new key in its environment: ${serverCommand.join(' ')}`,
        );
    });

    it('explains a selection from the context menu: progress, status bar, inserted comment, hover', async () => {
        await selectLines(1, 2);
        await chooseFromContextMenu('Explain');

        const progress = page.locator('.notifications-toasts .notification-list-item', { hasText: 'Deep think' });
        await progress.waitFor({ timeout: WAIT });
        assert.match(await progress.innerText(), new RegExp(`Deep think: ${AGENTS} agents`));
        await runStatus().locator('.codicon-sync.codicon-modifier-spin').waitFor({ timeout: WAIT });
        await screenshot('progress');

        await waitFor(() => editorText().then((text) => text.includes(SYNTHESIS)), WAIT, () => 'no comment inserted');
        const text = await editorText();
        assert.ok(
            text.startsWith('# Deep think') && text.includes(`# ${SYNTHESIS}\ndef divide(a, b):`),
            `unexpected editor text:\n${text}`,
        );
        await runStatus().filter({ hasText: 'done' }).waitFor({ timeout: WAIT });
        await screenshot('comment');

        // On the word itself: VS Code shows no hover past the end of a line.
        await codeLine('return a / b').getByText('return', { exact: true }).hover();
        const hover = page.locator('.monaco-hover', { hasText: 'E2E synthesis' });
        await hover.waitFor({ timeout: WAIT });
        assert.match(await hover.innerText(), /Deep think: explain/);
        await screenshot('hover');
        // The picture in vscode-client/README.md (media/result.png): the editor's top left.
        const box = await page.locator('.part.editor').boundingBox();
        assert.ok(box);
        await page.screenshot({
            path: join(artifactsDir, 'readme-result.png'),
            clip: { x: box.x, y: box.y, width: Math.min(box.width, 860), height: Math.min(box.height, 330) },
        });
        await page.keyboard.press('Escape');
    });

    it('opens the result as a markdown preview beside the editor', async () => {
        await codeLine('return a / b').getByText('return', { exact: true }).click();
        await runPaletteCommand('Deep think: Open result beside the editor');
        const preview = page
            .frameLocator('iframe.webview.ready')
            .frameLocator('#active-frame')
            .locator('body', { hasText: 'E2E synthesis' });
        await preview.waitFor({ timeout: WAIT });
        assert.equal(await page.locator('.tab', { hasText: 'Preview Deep think result.md' }).count(), 1);
        await screenshot('preview');
        await page.locator('.tab', { hasText: 'a.py' }).click();
    });

    it('asks a question in an input box, and a click on the status bar item cancels the run', async () => {
        const before = await editorText();
        const print = await lineOf('print(divide(1, 0))'); // below the inserted comment
        await selectLines(print, print);
        await chooseCodeAction('Deep think: ask…');
        const question = page.locator('.quick-input-widget input');
        await question.waitFor({ timeout: WAIT });
        await question.fill(QUESTION);
        await screenshot('ask-prompt');
        await question.press('Enter');

        const progress = page.locator('.notifications-toasts .notification-list-item', { hasText: 'Deep think' });
        await progress.waitFor({ timeout: WAIT });
        await waitFor(() => llmConnections() >= AGENTS, WAIT, () => 'the agents never reached the LLM');
        const working = llmConnections();
        const status = runStatus();
        assert.doesNotMatch(await status.innerText(), /done/, 'the status bar still shows the previous run');
        await screenshot('ask-progress');
        await status.click();

        await progress.waitFor({ state: 'detached', timeout: WAIT });
        // The agents' requests are really aborted: their connections to the LLM close.
        await waitFor(
            () => llmConnections() <= working - AGENTS,
            WAIT,
            () => `LLM connections still open after the cancel: ${llmConnections()} of ${working}`,
        );
        // The server ended the progress saying so; the item shows it until the next run.
        await runStatus().filter({ hasText: 'cancelled' }).waitFor({ timeout: WAIT });
        await screenshot('cancelled');
        assert.equal(await editorText(), before, 'a cancelled run changed the document');
    });

    it('reviews a selection from the deep-think menu (its keybinding): findings in the Problems panel', async () => {
        await selectLines(await lineOf('def divide'), await lineOf('return a / b'));
        await page.keyboard.press('Control+Alt+D');
        await chooseQuickPick('Review');
        // A new run resets the status bar item: no "cancelled" from the last one.
        const status = runStatus();
        await status.locator('.codicon-sync.codicon-modifier-spin').waitFor({ timeout: WAIT });
        assert.doesNotMatch(await status.innerText(), /cancelled/);

        await waitFor(() => editorText().then((text) => text.includes(REVIEW)), WAIT, () => 'no review comment inserted');
        await page.keyboard.press('Control+Shift+M');
        const finding = page.locator('.markers-panel .monaco-list-row', { hasText: REVIEW_FINDING });
        await finding.waitFor({ timeout: WAIT });
        assert.match(await finding.innerText(), /deepthink/);
        await screenshot('review-problems');
    });

    it('reviews the diff of the file from the command palette', async () => {
        await selectLines(1, 1);
        await runPaletteCommand('Deep think: Review diff of this file');
        const finding = page.locator('.markers-panel .monaco-list-row', { hasText: DIFF_FINDING });
        await finding.waitFor({ timeout: WAIT });
        assert.match(await finding.innerText(), /deepthink/);
        await runStatus().filter({ hasText: 'done' }).waitFor({ timeout: WAIT });
        await screenshot('review-diff');
    });

    it('clears the findings from the command palette', async () => {
        await runPaletteCommand('Deep think: Clear findings');
        await page.locator('.markers-panel .monaco-list-row', { hasText: DIFF_FINDING }).waitFor({ state: 'detached', timeout: WAIT });
        await screenshot('findings-cleared');
    });

    it('reviews the diff of the workspace from the Source Control view title', async () => {
        await page.keyboard.press('Control+Shift+G');
        const button = page.locator('.part.sidebar .action-label[aria-label*="Review diff of the workspace"]');
        await button.waitFor({ timeout: WAIT });
        await button.click();
        await page.locator('.markers-panel .monaco-list-row', { hasText: DIFF_FINDING }).waitFor({ timeout: WAIT });
        await runStatus().filter({ hasText: 'done' }).waitFor({ timeout: WAIT });
        await screenshot('workspace-review-diff');
    });

    it("ignores the workspace's deepthink.baseUrl: no request reaches that URL", () => {
        // Every run above went to the scripted server given in the user's environment.
        assert.deepEqual(decoyRequests, []);
    });

    it('never writes the API key to settings or logs', async () => {
        // VS Code writes its logs in the background: wait for the verbose trace (with the
        // settings as the server got them) to reach disk, or the check below proves nothing.
        const logs = () => filesUnder(userDataDir).filter((file) => file.endsWith('.log'));
        await waitFor(
            () => logs().some((file) => readFileSync(file, 'utf8').includes(`"parallel_agents": ${AGENTS}`)),
            WAIT,
            () => 'no verbose LSP trace in the logs, so the check below would prove nothing',
        );
        const leaks = filesUnder(userDataDir)
            .filter((file) => /\.(json|log)$/.test(file))
            .filter((file) => readFileSync(file, 'utf8').includes(API_KEY));
        assert.deepEqual(leaks, []);
    });

    it('says a Python 3.11+ is needed when the interpreter is not one', async () => {
        const missing = join(dir, 'no-such-python');
        // The user picks another interpreter in the Settings editor; the extension restarts.
        // code-server is a remote window: settings at machine scope are on its Remote tab.
        await runPaletteCommand('Preferences: Open User Settings');
        await page.locator('.settings-editor').waitFor({ timeout: WAIT });
        await page.locator('.settings-tabs-widget .action-label', { hasText: 'Remote' }).click();
        await page.keyboard.type('deepthink.interpreter');
        const input = page.locator('.settings-editor .setting-item-contents', { hasText: 'Interpreter' }).locator('input');
        await input.fill(missing);
        await input.press('Tab');
        const toast = page.locator('.notifications-toasts .notification-list-item', { hasText: 'Python 3.11 or later' });
        await toast.waitFor({ timeout: WAIT });
        const message = await toast.innerText();
        assert.ok(message.includes(missing), message);
        assert.match(message, /Set interpreter/);
        // The old client, stopped for the new interpreter, is not woken by the settings change.
        const failures = page.locator('.notifications-toasts .notification-list-item', { hasText: 'Starting server failed' });
        assert.equal(await failures.count(), 0);
        await screenshot('python-missing');
    });

    // --- the editor, as a user drives it -----------------------------------------------------

    async function runPaletteCommand(title: string): Promise<void> {
        await page.keyboard.press('F1');
        const input = page.locator('.quick-input-widget input');
        await input.waitFor();
        await input.fill(`>${title}`);
        await chooseQuickPick(title);
    }

    async function chooseQuickPick(label: string): Promise<void> {
        const item = page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
        await item.waitFor({ timeout: WAIT });
        await item.click();
    }

    async function openFile(name: string): Promise<void> {
        await page.keyboard.press('Control+P');
        const input = page.locator('.quick-input-widget input');
        await input.waitFor();
        await input.fill(name);
        await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().click();
        await page.locator('.monaco-editor .view-line', { hasText: 'def divide' }).waitFor({ timeout: WAIT });
    }

    function codeLine(text: string) {
        return page.locator('.part.editor .monaco-editor .view-line', { hasText: text });
    }

    /** Select whole lines, 1-based and inclusive, as a user does with Shift+Down. */
    /** The 1-based number of the editor's first line holding `text`. */
    async function lineOf(text: string): Promise<number> {
        const index = (await editorText()).split('\n').findIndex((line) => line.includes(text));
        assert.ok(index >= 0, `no line holds "${text}"`);
        return index + 1;
    }

    async function selectLines(first: number, last: number): Promise<void> {
        await page.locator('.monaco-editor .view-lines').first().click();
        await page.keyboard.press('Control+Home');
        for (let line = 1; line < first; line++) {
            await page.keyboard.press('ArrowDown');
        }
        await page.keyboard.press('Home');
        for (let line = first; line <= last; line++) {
            await page.keyboard.press('Shift+ArrowDown');
        }
    }

    /** Ctrl+. and pick the action with the keyboard; retried while the server is still starting. */
    async function chooseCodeAction(title: string): Promise<void> {
        const item = page.locator('.action-widget .monaco-list-row', { hasText: title });
        const focused = page.locator('.action-widget .monaco-list-row.focused');
        await waitFor(
            async () => {
                await page.keyboard.press('Control+.');
                try {
                    await item.waitFor({ timeout: 3_000 });
                    return true;
                } catch {
                    await page.keyboard.press('Escape');
                    return false;
                }
            },
            WAIT,
            () => `no code action "${title}"`,
        );
        await screenshot('code-actions');
        // The menu's pointer block swallows clicks in a headless browser; keys work as for a user.
        for (let step = 0; (await focused.getAttribute('aria-label')) !== title; step++) {
            assert.ok(step < 10, `"${title}" never got the focus in the code action menu`);
            await page.keyboard.press('ArrowDown');
        }
        await page.keyboard.press('Enter');
    }

    /** The text of the editor: its line elements in the order they are shown, not in the DOM's. */
    async function editorText(): Promise<string> {
        const lines = await page
            .locator('.part.editor .monaco-editor .view-lines')
            .first()
            .locator('.view-line')
            .evaluateAll((elements) =>
                elements
                    .map((element) => ({ top: parseFloat((element as HTMLElement).style.top), text: element.textContent ?? '' }))
                    .sort((a, b) => a.top - b.top)
                    .map((line) => line.text),
            );
        return lines.join('\n').replaceAll('\u00a0', ' ');
    }

    /** The extension's status bar item about runs. */
    function runStatus() {
        return page.locator('.statusbar-item', { hasText: 'Deep think:' });
    }

    /** Right-click the selection, then Deep think > `title` in the editor's context menu. */
    async function chooseFromContextMenu(title: string): Promise<void> {
        await codeLine('def divide').click({ button: 'right' });
        const submenu = page.locator('.monaco-menu .action-item', { hasText: 'Deep think' }).first();
        await submenu.waitFor({ timeout: WAIT });
        await submenu.hover();
        const item = page.locator('.monaco-menu .action-item', { hasText: new RegExp(`^${title}$`) }).last();
        await item.waitFor({ timeout: WAIT });
        await screenshot('context-menu');
        await item.click();
    }

    // --- the processes, as the operating system sees them ------------------------------------

    /** The language server process of this test (other test runs may have theirs), with its key. */
    function serverWithKey(): number | undefined {
        for (const [pid, env] of processEnvironments(serverCommand)) {
            if (env.includes(`DEEPTHINK_BASE_URL=${llmBaseUrl}`) && env.includes(`DEEPTHINK_API_KEY=${API_KEY}`)) {
                return pid;
            }
        }
        return undefined;
    }

    /** Open TCP connections from the language server to the scripted LLM server. */
    function llmConnections(): number {
        const pid = serverWithKey();
        return pid === undefined ? 0 : establishedConnections(pid, llmPort);
    }
});
