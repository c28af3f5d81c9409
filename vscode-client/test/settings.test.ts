import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { effectiveValue, expandInterpreterSetting, toServerSettings } from '../src/settings';

describe('toServerSettings', () => {
    it('nests every flat setting under its YAML key', () => {
        const nested = toServerSettings({
            model: 'gpt-4o',
            baseUrl: 'http://localhost:11434/v1',
            parallelAgents: 6,
            taskTimeout: 90.5,
            synthesisModel: 'o3',
            councilModels: ['a/model', 'b/model'],
            output: 'hover',
        });
        assert.deepEqual(nested, {
            provider: { base_url: 'http://localhost:11434/v1', model: 'gpt-4o' },
            orchestrator: { parallel_agents: 6, task_timeout: 90.5, synthesis_model: 'o3' },
            council: { models: ['a/model', 'b/model'] },
            output: 'hover',
        });
    });

    it('sends nothing when nothing is set, so YAML and environment config apply', () => {
        assert.deepEqual(toServerSettings({}), {});
        assert.deepEqual(
            toServerSettings({
                model: '',
                baseUrl: '   ',
                parallelAgents: null,
                taskTimeout: undefined,
                synthesisModel: '',
                councilModels: [],
                output: undefined,
            }),
            {},
        );
    });

    it('leaves out unset values and empty sections, keeping the rest', () => {
        assert.deepEqual(toServerSettings({ model: 'gpt-4o', parallelAgents: null, councilModels: [] }), {
            provider: { model: 'gpt-4o' },
        });
        assert.deepEqual(toServerSettings({ taskTimeout: 30 }), { orchestrator: { task_timeout: 30 } });
    });

    it('trims strings and drops blank council entries', () => {
        assert.deepEqual(toServerSettings({ model: ' gpt-4o ', councilModels: [' a ', '', '  '] }), {
            provider: { model: 'gpt-4o' },
            council: { models: ['a'] },
        });
        assert.deepEqual(toServerSettings({ councilModels: ['', ' '] }), {});
    });

    it('passes values of the wrong type through for the server to explain', () => {
        assert.deepEqual(toServerSettings({ parallelAgents: 'four', output: 'popup' }), {
            orchestrator: { parallel_agents: 'four' },
            output: 'popup',
        });
        assert.deepEqual(toServerSettings({ parallelAgents: 0 }), { orchestrator: { parallel_agents: 0 } });
    });

    it('never puts an API key anywhere: there is no setting for it', () => {
        const nested = toServerSettings({ apiKey: 'sk-secret' } as never);
        assert.deepEqual(nested, {});
    });
});

describe('expandInterpreterSetting', () => {
    it('is undefined for an empty setting', () => {
        assert.equal(expandInterpreterSetting('', '/ws', '/home/me'), undefined);
        assert.equal(expandInterpreterSetting('  ', '/ws', '/home/me'), undefined);
    });

    it('expands the workspace folder and the home directory', () => {
        assert.equal(
            expandInterpreterSetting('${workspaceFolder}/.venv/bin/python', '/ws', '/home/me'),
            '/ws/.venv/bin/python',
        );
        assert.equal(expandInterpreterSetting('~/venv/bin/python', '/ws', '/home/me'), '/home/me/venv/bin/python');
        assert.equal(expandInterpreterSetting('${userHome}/py', undefined, '/home/me'), '/home/me/py');
    });

    it('keeps other paths as they are', () => {
        assert.equal(expandInterpreterSetting('/usr/bin/python3', '/ws', '/home/me'), '/usr/bin/python3');
        assert.equal(expandInterpreterSetting('py~thon', '/ws', '/home/me'), 'py~thon');
    });
});

describe('effectiveValue', () => {
    it('takes the most specific level someone set', () => {
        assert.equal(effectiveValue('model', { globalValue: 'a', workspaceValue: 'b', workspaceFolderValue: 'c' }), 'c');
        assert.equal(effectiveValue('model', { globalValue: 'a', workspaceValue: 'b' }), 'b');
        assert.equal(effectiveValue('model', { globalValue: 'a' }), 'a');
        assert.equal(effectiveValue('model', undefined), undefined);
    });

    it("takes the endpoint from the user's settings only: a workspace can't redirect the key", () => {
        const values = { globalValue: 'http://mine/v1', workspaceValue: 'http://theirs/v1', workspaceFolderValue: 'http://x/v1' };
        assert.equal(effectiveValue('baseUrl', values), 'http://mine/v1');
        assert.equal(effectiveValue('baseUrl', { workspaceValue: 'http://theirs/v1' }), undefined);
    });
});
