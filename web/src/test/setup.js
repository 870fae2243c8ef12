import { afterEach } from 'vitest';
import { cleanup } from './dom.js';

// Tells React that tests wrap updates in act(), so it flushes them there.
globalThis.IS_REACT_ACT_ENVIRONMENT = true;

afterEach(cleanup);
