import { defineSuite } from './harness.js';

defineSuite('standalone', 'anonymous');
