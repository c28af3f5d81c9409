import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
    compareVersions,
    environmentName,
    isStaleEnvironment,
    isSupported,
    parseProbe,
    prefersInstalled,
    wheelVersion,
} from '../src/serverChoice';

describe('which server runs', () => {
    it('prefers an installed server only when it is newer than the bundled one', () => {
        assert.equal(prefersInstalled(null, '0.1.0'), false);
        assert.equal(prefersInstalled('0.1.0', '0.1.0'), false);
        assert.equal(prefersInstalled('0.0.9', '0.1.0'), false);
        assert.equal(prefersInstalled('0.1.1', '0.1.0'), true);
        assert.equal(prefersInstalled('0.10.0', '0.9.0'), true, 'numeric, not textual, comparison');
        assert.equal(prefersInstalled('0.2.0rc1', '0.1.0'), true, 'a pre-release of a newer version is newer');
    });

    it('compares versions by their release numbers', () => {
        assert.ok(compareVersions('1.2', '1.2.0') === 0);
        assert.ok(compareVersions('1.2.0+local', '1.2.0') === 0);
        assert.ok(compareVersions('2.0.0', '10.0.0') < 0);
        assert.ok(compareVersions('1.0.1', '1.0') > 0);
    });

    it('accepts Python 3.11 and later only', () => {
        assert.equal(isSupported([3, 10]), false);
        assert.equal(isSupported([3, 11]), true);
        assert.equal(isSupported([3, 13]), true);
        assert.equal(isSupported([4, 0]), true);
        assert.equal(isSupported([2, 7]), false);
    });

    it('reads what the probe prints, and nothing else', () => {
        assert.deepEqual(parseProbe('{"version": [3, 12], "server": null}\n'), { version: [3, 12], server: null });
        assert.deepEqual(parseProbe('{"version": [3, 11], "server": "0.1.0"}'), { version: [3, 11], server: '0.1.0' });
        assert.equal(parseProbe(''), undefined);
        assert.equal(parseProbe('Python 3.12.1'), undefined);
        assert.equal(parseProbe('{"version": "3.12", "server": null}'), undefined);
        assert.equal(parseProbe('{"version": [3, 12], "server": 1}'), undefined);
    });

    it('keeps one private environment per extension version and Python version', () => {
        assert.equal(environmentName('0.1.0', [3, 12]), 'server-0.1.0-py3.12');
        assert.equal(isStaleEnvironment('server-0.1.0-py3.12', '0.1.0'), false);
        assert.equal(isStaleEnvironment('server-0.1.0-py3.11.partial-x1y2', '0.1.0'), false);
        assert.equal(isStaleEnvironment('server-0.0.9-py3.12', '0.1.0'), true);
        assert.equal(isStaleEnvironment('server-0.1.0.1-py3.12', '0.1.0'), true);
        assert.equal(isStaleEnvironment('other-state.json', '0.1.0'), false);
    });

    it('reads the server version from the bundled wheel', () => {
        assert.equal(wheelVersion('deepthink_lsp-0.1.0-py3-none-any.whl'), '0.1.0');
        assert.equal(wheelVersion('pip-26.3-py3-none-any.whl'), undefined);
    });
});
