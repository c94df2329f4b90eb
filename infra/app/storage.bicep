// One storage account for everything: package files (blob), feed/project/file metadata (tables),
// the Functions host's own state (AzureWebJobsStorage) and the Flex Consumption deployment package.
// Only Microsoft Entra ID reaches it: shared keys are off, so account keys and account SAS don't work and
// downloads are served with user-delegation SAS.

param name string
param location string
param tags object = {}
param skuName string = 'Standard_LRS'
param packagesContainerName string
param tableNames array
param deploymentContainerName string

@description('Days a deleted blob or container can be restored: a mistaken delete of a package is recoverable.')
param deleteRetentionDays int = 7

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Downloads redirect pip/uv to this blob endpoint with a user-delegation SAS, from anywhere; a default-deny firewall would break every install. Shared keys are off, so every request needs Entra ID or such a SAS.
  // checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: clients fetch package files from the public blob endpoint with a SAS. Anonymous blob access stays off (allowBlobPublicAccess false, containers private).
  // checkov:skip=CKV_AZURE_206:Replication is the storageSku parameter (ZRS/GRS/GZRS allowed); LRS is the cheapest default and is available in every Flex Consumption region. Blob soft delete covers mistaken deletes.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    // pip, uv and twine are redirected to this blob endpoint with a short-lived SAS, from anywhere: it
    // stays reachable from the internet, and every request still needs Entra ID or a delegation SAS.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      services: {
        blob: {
          enabled: true
        }
        table: {
          enabled: true
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
  }
}

resource packagesContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: packagesContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output packagesContainerName string = packagesContainer.name
output deploymentContainerName string = deploymentContainer.name
