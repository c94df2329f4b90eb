// The Flex Consumption (FC1) plan and the Python Function App. On Flex the runtime, scaling and the
// deployment source live in functionAppConfig; the legacy app settings (FUNCTIONS_WORKER_RUNTIME,
// FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE, ...) and siteConfig.linuxFxVersion are deprecated
// there and must not be set. App settings are applied by appsettings.bicep, after the role assignments.

param name string
param planName string
param location string
param tags object = {}
param storageAccountName string
param deploymentContainerName string
param pythonVersion string = '3.11'
param instanceMemoryMB int = 2048
param maximumInstanceCount int = 40
param httpPerInstanceConcurrency int = 4
param alwaysReadyInstances int = 0

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy for Flex Consumption exists only in some regions; forcing it would make the template fail elsewhere. Instances are stateless and all state is in the storage account.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:A package index must be reachable by pip, uv and twine on developer machines and CI runners; Feedhouse authenticates writes and non-public reads itself.
  // checkov:skip=CKV_AZURE_17:pip, uv and twine authenticate with tokens (HTTP Basic or Bearer), not client certificates; requiring certificates would lock them out.
  // checkov:skip=CKV_AZURE_212:Scale to zero is the point of Flex Consumption; alwaysReadyInstances keeps warm instances for those who want to pay for them.
  // checkov:skip=CKV_AZURE_213:The platform health check pings every instance every minute, which would keep instances of a scale-to-zero app awake and billed; the deploy workflow probes /api/health after each deployment instead.
  name: name
  location: location
  // azd finds the app to deploy service "api" (azure.yaml) by this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    // A package feed is a public HTTPS endpoint; Feedhouse authenticates every write itself.
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: (alwaysReadyInstances > 0) ? [{ name: 'http', instanceCount: alwaysReadyInstances }] : []
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// Deployments authenticate with Microsoft Entra ID (azure/login, az, azd); no FTP or basic-auth
// publishing credentials exist to leak.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
output principalId string = site.identity.principalId
