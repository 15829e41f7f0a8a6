#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/src/cli/main.js (built by `npm run build`).
import { main } from '../dist/src/cli/main.js';

main(process.argv);
