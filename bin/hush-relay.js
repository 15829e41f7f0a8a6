#!/usr/bin/env node
// Thin launcher for the bundled relay; `hush relay` runs the same code.
import { relayMain } from '../dist/relay/main.js';

relayMain(process.argv.slice(2));
