import { runMain } from './run-main.js';

void runMain();
