// Tests are compiled by `tsc -b` and run as plain JS from dist/: no transpiler in the test path.
module.exports = {
  testEnvironment: 'node',
  projects: [
    { displayName: 'unit', testEnvironment: 'node', testMatch: ['<rootDir>/packages/*/dist/test/unit/**/*.test.js'] },
    { displayName: 'integration', testEnvironment: 'node', testMatch: ['<rootDir>/packages/*/dist/test/integration/**/*.test.js'] },
    { displayName: 'e2e', testEnvironment: 'node', testMatch: ['<rootDir>/packages/*/dist/test/e2e/**/*.test.js'] },
  ],
};
