// Key Vault holding the bootstrap admin token, and the web UI's client secret where one is given. Access is Azure RBAC only (no access policies); the app's
// identity gets Key Vault Secrets User in rbac.bicep and reads the token through a Key Vault reference.

param name string
param location string
param tags object = {}

@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 7

param adminTokenSecretName string

@secure()
param adminToken string

// The web UI's client secret for signing in through Entra ID; empty: none (a public client).
@secure()
param oidcClientSecret string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:The Flex Consumption app has no VNet integration and no fixed outbound addresses, so firewall rules would block its Key Vault reference. Access is Entra ID + RBAC only (enableRbacAuthorization).
  // checkov:skip=CKV_AZURE_189:Same reason as CKV_AZURE_109: without VNet integration and a private endpoint the app reaches the vault over its public endpoint.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // Nobody, not even an owner, can purge the vault or the token before the retention ends. The cost:
    // after a teardown the name stays taken for softDeleteRetentionInDays (see infra/README.md).
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    // A Flex Consumption app without VNet integration has no fixed outbound addresses to allow-list, so its
    // Key Vault reference needs the public endpoint (the alternative is VNet integration + a private
    // endpoint). Every request is still authorized by Entra ID + RBAC.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource adminTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41:The bootstrap admin token is rotated by redeploying with a new adminToken; an expiry date would silently lock the operator out (an expired secret stops resolving) rather than force a rotation.
  parent: vault
  name: adminTokenSecretName
  properties: {
    value: adminToken
    contentType: 'text/plain'
    attributes: {
      enabled: true
    }
  }
}

resource oidcClientSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(oidcClientSecret)) {
  // checkov:skip=CKV_AZURE_114:contentType is set below; checkov does not read the properties of a conditional resource (= if (...)).
  // checkov:skip=CKV_AZURE_41:The client secret expires in Entra ID, where it is issued; rotating it there means redeploying with the new one. An expiry here too would only stop the sign-in earlier than Entra ID does.
  parent: vault
  name: 'oidc-client-secret'
  properties: {
    value: oidcClientSecret
    contentType: 'text/plain'
    attributes: {
      enabled: true
    }
  }
}

output name string = vault.name
output id string = vault.id
// Versionless: the app picks up a new token (a redeploy with another adminToken) within 24 hours, or at
// once on restart.
output adminTokenUri string = adminTokenSecret.properties.secretUri
// Empty when no client secret was given.
output oidcClientSecretUri string = empty(oidcClientSecret) ? '' : oidcClientSecretValue.properties.secretUri
