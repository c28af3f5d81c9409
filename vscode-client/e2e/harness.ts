// The processes of the end-to-end test: the scripted LLM server, code-server and Chromium.
// Every process is started in its own process group and stopped by that group's id.
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { Browser, chromium } from 'playwright-core';

export const repoRoot = resolve(__dirname, '..', '..');
export const artifactsDir = join(repoRoot, 'tests', 'artifacts', 'vscode');
export const python = process.env.DEEPTHINK_E2E_PYTHON ?? join(repoRoot, '.venv', 'bin', 'python');

export function requiredEnv(name: string): string {
    const value = process.env[name];
    if (!value) {
        throw new Error(`${name} is not set: run the test through vscode-client/scripts/e2e.sh`);
    }
    return value;
}

export function makeTempDir(): string {
    return mkdtempSync(join(tmpdir(), 'deepthink-e2e-'));
}

/** A rule of tests/llm_server.py's --script file. */
export interface LlmRule {
    match: string | null;
    reply: { content?: string; delay?: number };
    times?: number | null;
}

export interface Started {
    process: ChildProcess;
    stop(): Promise<void>;
}

function startGroup(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv }): Started {
    const child = spawn(command, args, { ...options, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = once(child, 'exit');
    return {
        process: child,
        async stop() {
            if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
                return;
            }
            killGroup(child.pid, 'SIGTERM');
            const timer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), 5_000);
            await exited;
            clearTimeout(timer);
        },
    };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
    try {
        process.kill(-pid, signal);
    } catch {
        // the group is gone already
    }
}

/** `python -m tests.llm_server --script FILE`; it prints its base URL and serves until stdin closes. */
export async function startLlmServer(rules: LlmRule[], dir: string): Promise<Started & { baseUrl: string }> {
    const script = join(dir, 'llm-rules.json');
    writeFileSync(script, JSON.stringify(rules, null, 2));
    const started = startGroup(python, ['-m', 'tests.llm_server', '--script', script], { cwd: repoRoot });
    const lines = createInterface({ input: started.process.stdout! });
    const [baseUrl] = (await Promise.race([
        once(lines, 'line'),
        once(started.process, 'exit').then(() => {
            throw new Error('tests.llm_server exited before printing its base URL');
        }),
    ])) as [string];
    return { ...started, baseUrl };
}

export async function freePort(): Promise<number> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    server.close();
    if (address === null || typeof address === 'string') {
        throw new Error('no TCP port');
    }
    return address.port;
}

export interface CodeServerOptions {
    dir: string;
    folder: string;
    userSettings: Record<string, unknown>;
    env: NodeJS.ProcessEnv;
}

/** code-server with its own user data, extensions and config, the VSIX installed, `folder` open. */
export async function startCodeServer(options: CodeServerOptions): Promise<Started & { url: string; userDataDir: string }> {
    const codeServer = requiredEnv('DEEPTHINK_E2E_CODE_SERVER');
    const userDataDir = join(options.dir, 'user-data');
    const dirs = ['--user-data-dir', userDataDir, '--extensions-dir', join(options.dir, 'extensions')];
    mkdirSync(join(userDataDir, 'User'), { recursive: true });
    writeFileSync(join(userDataDir, 'User', 'settings.json'), JSON.stringify(options.userSettings, null, 2));
    const config = join(options.dir, 'code-server.yaml');
    writeFileSync(config, 'auth: none\ncert: false\n');
    await promisify(execFile)(codeServer, [
        '--config',
        config,
        ...dirs,
        '--install-extension',
        requiredEnv('DEEPTHINK_E2E_VSIX'),
    ]);
    const port = await freePort();
    const started = startGroup(
        codeServer,
        [
            '--config',
            config,
            ...dirs,
            '--bind-addr',
            `127.0.0.1:${port}`,
            '--auth',
            'none',
            '--disable-telemetry',
            '--disable-update-check',
            '--disable-workspace-trust',
            '--disable-getting-started-override',
            '--ignore-last-opened',
            // Log channels at trace level: the client only records the LSP trace (which the
            // key check reads) when its channel's level is trace.
            '--log',
            'trace',
            options.folder,
        ],
        { env: options.env },
    );
    const log: string[] = [];
    started.process.stdout!.on('data', (chunk: Buffer) => log.push(chunk.toString()));
    started.process.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString()));
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/healthz`)).ok, 60_000, () => `code-server did not start:\n${log.join('')}`);
    return { ...started, url, userDataDir };
}

/** Debian's Chromium, headless, with nothing that reaches the network on its own. */
export function launchChromium(): Promise<Browser> {
    return chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--disable-component-update',
            '--no-first-run',
            '--disable-sync',
        ],
    });
}

export async function waitFor(
    condition: () => Promise<boolean> | boolean,
    timeoutMs: number,
    describe: () => string,
): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        try {
            if (await condition()) {
                return;
            }
        } catch {
            // not ready yet
        }
        if (Date.now() > deadline) {
            throw new Error(describe());
        }
        await new Promise((done) => setTimeout(done, 250));
    }
}

/** The environment of the processes whose command line holds all of `words`. */
export function processEnvironments(words: string[]): Map<number, string[]> {
    const found = new Map<number, string[]>();
    for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) {
            continue;
        }
        try {
            const commandLine = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
            if (words.every((word) => commandLine.includes(word))) {
                found.set(Number(entry), readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0'));
            }
        } catch {
            // the process ended meanwhile
        }
    }
    return found;
}

/** Every file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name));
}

/** How many TCP connections process `pid` has established to `port` on this machine. */
export function establishedConnections(pid: number, port: number): number {
    const sockets = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
            const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
            if (inode) {
                sockets.add(inode);
            }
        } catch {
            // closed meanwhile
        }
    }
    // /proc/net/tcp rows: sl, local, remote (hex address:port), state (01 = established), ..., inode
    const remotePort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
    return readFileSync('/proc/net/tcp', 'utf8')
        .split('\n')
        .slice(1)
        .map((row) => row.trim().split(/\s+/))
        .filter((fields) => fields.length > 9 && fields[2].endsWith(remotePort) && fields[3] === '01')
        .filter((fields) => sockets.has(fields[9])).length;
}
