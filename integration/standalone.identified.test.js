import { defineSuite } from './harness.js';

defineSuite('standalone', 'identified');
