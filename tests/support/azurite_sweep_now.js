// Loaded into a test's Azurite with `node --require` (NODE_OPTIONS): SIGUSR2 runs the blob service's
// extent sweep (BlobGCManager.markSweep) at once, as Azurite itself does only every 10 minutes, and
// appends the milliseconds it took to the file $AZURITE_SWEEP_LOG. A test cannot wait 10 minutes.
// Requiring Azurite's own module file (the pinned install) patches the class its blob service uses;
// should an upgrade move or rename it, Azurite fails to start and the test says so.
const fs = require("fs");
const path = require("path");

const gcModule = path.join(__dirname, "..", "..", "tools", "node_modules", "azurite", "dist", "src", "blob", "gc", "BlobGCManager");
const BlobGCManager = require(gcModule).default;
const start = BlobGCManager.prototype.start;

BlobGCManager.prototype.start = async function (...args) {
  await start.apply(this, args);
  process.on("SIGUSR2", async () => {
    const begun = Date.now();
    await this.markSweep();
    fs.appendFileSync(process.env.AZURITE_SWEEP_LOG, `${Date.now() - begun}\n`);
  });
};
