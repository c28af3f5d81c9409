import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusText } from '../src/statusText';

describe('the status bar text', () => {
    it('shows a spinner and the short part of the newest run\'s progress', () => {
        assert.equal(statusText.running(['Deep think: 4 agents']).text, '$(sync~spin) Deep think: 4 agents');
        const running = statusText.running(['running: 1 done, 1 running — semantics: done, failures: running (12 tokens)']);
        assert.equal(running.text, '$(sync~spin) Deep think: running: 1 done, 1 running');
        assert.match(running.tooltip, /Click to cancel it/);
        assert.equal(statusText.running(['3/4 agents · 1.2k tok · 8 s']).text, '$(sync~spin) Deep think: 3/4 agents · 1.2k tok · 8 s');
    });

    it('counts the other runs going', () => {
        const two = statusText.running(['Deep think: 2 agents', '1/2 agents']);
        assert.equal(two.text, '$(sync~spin) Deep think: 1/2 agents (+1 more)');
        assert.match(two.tooltip, /2 deep-think runs going\. Click to cancel them/);
    });

    it('says how the last run ended, and offers its result only when there is one', () => {
        const done = statusText.ended('done in 12 s: 2 of 2 agents answered, 345 tokens');
        assert.deepEqual([done.text, done.canOpen], ['$(check) Deep think: done in 12 s', true]);
        assert.match(done.tooltip, /2 of 2 agents answered.*Click to open the result/);
        assert.equal(statusText.ended('partly done in 3 s: 1 of 2 agents answered, 9 tokens').canOpen, true);
        const cancelled = statusText.ended('cancelled');
        assert.deepEqual([cancelled.text, cancelled.canOpen], ['$(circle-slash) Deep think: cancelled', false]);
        const failed = statusText.ended('failed: cannot reach http://127.0.0.1:1/v1');
        assert.deepEqual([failed.text, failed.canOpen], ['$(warning) Deep think: failed', false]);
        assert.equal(failed.tooltip, 'failed: cannot reach http://127.0.0.1:1/v1');
    });

    it('keeps a long text short', () => {
        const text = statusText.running(['x'.repeat(200)]).text;
        assert.ok(text.length < 90, text);
        assert.ok(text.endsWith('…'));
    });
});
