/** Azurite for tests: the production starter (src/targets/embedded-azurite.ts), re-exported. */
export { startAzurite, AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME } from '../../src/targets/embedded-azurite.js';
export type { RunningAzurite, AzuriteContainer, MakeContainerOptions } from '../../src/targets/embedded-azurite.js';
