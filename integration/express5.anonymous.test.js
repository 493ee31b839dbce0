import { defineSuite } from './harness.js';

defineSuite('express5', 'anonymous');
