// Bundles the extension and vscode-languageclient into dist/extension.js: the VSIX ships no node_modules.
import * as esbuild from 'esbuild';
import process from 'node:process';

const production = process.argv.includes('--production');

await esbuild.build({
    entryPoints: ['src/extension.ts'],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    outfile: 'dist/extension.js',
    external: ['vscode'],
    minify: production,
    sourcemap: !production,
    logLevel: 'warning',
});
