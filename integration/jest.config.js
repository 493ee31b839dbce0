// Apollo's own integration test suite (@apollo/server-integration-testsuite), run as it is, with
// our plugin installed: `npm run test:apollo` (.ci/run, docs/contract.md §15). Jest in ES-modules mode
// (`node --experimental-vm-modules`); the harness loads the built library (dist/), as a host does.
export default {
  rootDir: '..',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/integration/*.test.js'],
  transform: {},
  testTimeout: 30_000,
  reporters: ['summary', '<rootDir>/integration/same-as-without-plugin.js'],
};
