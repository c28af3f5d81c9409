// The extension in a real VS Code (code-server) in a real browser, against the real server and
// the scripted LLM server. Run through scripts/e2e.sh, which installs code-server and the VSIX.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

const SAMPLE = 'def divide(a, b):\n    return a / b\n\n\nprint(divide(1, 0))\n';
const SYNTHESIS = 'E2E synthesis: divide() raises ZeroDivisionError when b is 0 (`a.py:2`).';
const AGENTS = 2; // deepthink.parallelAgents below: the plan rule only matches if it arrived
const API_KEY = `sk-e2e-${randomBytes(12).toString('hex')}`;
const SERVER_COMMAND = [python, '-P', '-m', 'server'];
const WAIT = 60_000;

const QUESTION = 'Why does this print fail?';
const PLAN = JSON.stringify({
    subtasks: [
        { role: 'semantics', question: 'What does divide() compute?' },
        { role: 'failures', question: 'When does divide() fail?' },
    ],
});

const rules: LlmRule[] = [
    // Phrases from orchestrator/prompts.py, as in tests/scenarios.py; the first rule that
    // matches and has uses left answers.
    { match: 'lead engineer', reply: { content: SYNTHESIS } },
    // The explain run's agents answer after a moment, long enough to see the progress...
    { match: 'Your sub-question', reply: { content: 'It fails when b is 0 (`a.py:2`).', delay: 3 }, times: AGENTS },
    // ...and the ask run's agents never do in time: that run is cancelled.
    { match: 'Your sub-question', reply: { content: 'too late', delay: 120 } },
    // The ask run is planned only if the question typed in the input box reached the LLM.
    { match: QUESTION, reply: { content: PLAN } },
    // The explain run is planned only if deepthink.parallelAgents reached the server.
    { match: `plan the work of ${AGENTS} specialist agents`, reply: { content: PLAN }, times: 1 },
];

describe('Deep think in VS Code (code-server 4.100.3, Chromium)', () => {
    const dir = makeTempDir();
    const folder = join(dir, 'project');
    const started: Started[] = [];
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
        mkdirSync(folder);
        writeFileSync(join(folder, 'a.py'), SAMPLE);

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
            'deepthink.interpreter': python,
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
            'workbench.reduceMotion': 'on', // screenshots without half-faded widgets
        };
        const codeServer = await startCodeServer({ dir, folder, env, userSettings });
        started.push(codeServer);
        userDataDir = codeServer.userDataDir;

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
        if (userDataDir) {
            // code-server's and the extension's logs (with the LSP trace) are artefacts too.
            cpSync(join(userDataDir, 'logs'), join(artifactsDir, 'logs'), { recursive: true });
        }
        rmSync(dir, { recursive: true, force: true });
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
            () => `no server process with the new key in its environment: ${SERVER_COMMAND.join(' ')}`,
        );
    });

    it('explains a selection: progress notification, inserted comment, hover', async () => {
        await openFile('a.py');
        await selectLines(1, 2);
        await chooseCodeAction('Deep think: explain');

        const progress = page.locator('.notifications-toasts .notification-list-item', { hasText: 'Deep think' });
        await progress.waitFor({ timeout: WAIT });
        assert.match(await progress.innerText(), new RegExp(`Deep think: ${AGENTS} agents`));
        await screenshot('progress');

        await waitFor(() => editorText().then((text) => text.includes(SYNTHESIS)), WAIT, () => 'no comment inserted');
        const text = await editorText();
        assert.ok(
            text.startsWith(`# Deep think (explain):\n#\n# ${SYNTHESIS}\ndef divide(a, b):`),
            `unexpected editor text:\n${text}`,
        );
        await screenshot('comment');

        // On the word itself: VS Code shows no hover past the end of a line.
        await codeLine('return a / b').getByText('return', { exact: true }).hover();
        const hover = page.locator('.monaco-hover', { hasText: 'E2E synthesis' });
        await hover.waitFor({ timeout: WAIT });
        assert.match(await hover.innerText(), /Deep think: explain/);
        await screenshot('hover');
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

    it('asks a question in an input box, and Cancel in the notification stops the run', async () => {
        const before = await editorText();
        await selectLines(8, 8); // print(divide(1, 0)), below the inserted comment
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
        await screenshot('ask-progress');
        await progress.hover(); // the Cancel button shows on a toast that has the mouse
        await progress.getByRole('button', { name: 'Cancel' }).click();

        await progress.waitFor({ state: 'detached', timeout: WAIT });
        // The agents' requests are really aborted: their connections to the LLM close.
        await waitFor(
            () => llmConnections() <= working - AGENTS,
            WAIT,
            () => `LLM connections still open after Cancel: ${llmConnections()} of ${working}`,
        );
        // The server ended the progress saying so (shown in the status bar for a while).
        await page.locator('.statusbar', { hasText: 'cancelled' }).waitFor({ timeout: WAIT });
        await screenshot('cancelled');
        assert.equal(await editorText(), before, 'a cancelled run changed the document');
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

    it('says how to install the server when the interpreter lacks it', async () => {
        const bare = join(dir, 'bare-venv');
        await promisify(execFile)(python, ['-m', 'venv', '--without-pip', bare]);
        const barePython = join(bare, 'bin', 'python');
        // The user picks another interpreter in the Settings editor; the extension restarts.
        await runPaletteCommand('Preferences: Open User Settings');
        await page.locator('.settings-editor').waitFor({ timeout: WAIT });
        await page.keyboard.type('deepthink.interpreter');
        const input = page.locator('.settings-editor .setting-item-contents', { hasText: 'Interpreter' }).locator('input');
        await input.fill(barePython);
        await input.press('Tab');
        const toast = page.locator('.notifications-toasts .notification-list-item', { hasText: 'not installed' });
        await toast.waitFor({ timeout: WAIT });
        const message = await toast.innerText();
        assert.ok(message.includes(`${barePython} -m pip install deepthink-lsp`), message);
        assert.match(message, /Set interpreter/);
        await screenshot('server-missing');
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

    // --- the processes, as the operating system sees them ------------------------------------

    /** The language server process of this test (other test runs may have theirs), with its key. */
    function serverWithKey(): number | undefined {
        for (const [pid, env] of processEnvironments(SERVER_COMMAND)) {
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
