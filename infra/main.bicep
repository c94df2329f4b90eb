// Feedhouse in one resource group: storage for packages and metadata, a Flex Consumption Function App
// that serves the feed, Key Vault for the bootstrap admin token, and monitoring.
//
//   az deployment group create -g <rg> -f infra/main.bicep -p adminToken=<token>   (or: azd up)
//
// Composed from small modules under app/, in the style of Azure-Samples/functions-quickstart-python-http-azd,
// but with plain resources (no registry modules) so the templates parse and lint offline.
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Environment name (azd sets it from AZURE_ENV_NAME). It seeds the unique suffix of every resource name.')
param environmentName string = 'feedhouse'

@minLength(1)
@description('Region of every resource. It must offer Flex Consumption: az functionapp list-flexconsumption-locations.')
param location string = resourceGroup().location

@secure()
@minLength(32)
@description('The bootstrap admin token (FEEDHOUSE_ADMIN_TOKEN). It lands in Key Vault only; the app setting is a Key Vault reference.')
param adminToken string

@minLength(1)
@maxLength(64)
@description('The feed whose pip index and upload URLs the outputs show. Create it after the deployment (POST /api/feeds).')
param firstFeedName string = 'main'

@description('Who may create feeds besides the admin (FEEDHOUSE_FEED_CREATORS): * for any user with a token, or a comma-separated list of user names.')
param feedCreators string = '*'

@minValue(1048576)
@maxValue(536870912)
@description('Largest distribution file accepted, in bytes (FEEDHOUSE_MAX_UPLOAD_BYTES). The host body limit follows it.')
param maxUploadBytes int = 104857600

@minValue(0)
@maxValue(86400)
@description('How long clients may cache simple pages and the JSON API, in seconds (FEEDHOUSE_PAGE_MAX_AGE_SECONDS; PyPI uses 600).')
param pageMaxAgeSeconds int = 600

@minValue(1)
@maxValue(365)
@description('Days deleted versions stay restorable in a feed\'s recycle bin (FEEDHOUSE_RECYCLE_BIN_DAYS).')
param recycleBinDays int = 30

@minValue(1)
@maxValue(365)
@description('Days a deleted feed stays in the recycle bin, its name reserved and restorable, before the daily sweep purges it (FEEDHOUSE_FEED_RECYCLE_BIN_DAYS).')
param feedRecycleBinDays int = 30

@allowed(['redirect', 'stream'])
@description('redirect: files are a 302 to a short-lived user-delegation SAS URL, so no file passes through the function; stream: the function sends the bytes (FEEDHOUSE_DOWNLOAD_MODE).')
param downloadMode string = 'redirect'

@minValue(60)
@maxValue(3600)
@description('How long one SAS download URL is handed out unchanged, in seconds (FEEDHOUSE_DOWNLOAD_URL_SECONDS).')
param downloadUrlSeconds int = 300

@minValue(1)
@maxValue(3600)
@description('How often an instance writes the download counts it gathered to storage, in seconds: how far counts may lag (FEEDHOUSE_DOWNLOAD_COUNT_FLUSH_SECONDS).')
param downloadCountFlushSeconds int = 30

@description('Sign-in with Entra ID: the tenant whose access tokens are accepted (FEEDHOUSE_OIDC_ISSUER is its v2.0 issuer). Defaults to the deployment\'s tenant.')
param oidcTenantId string = tenant().tenantId

@description('Sign-in with Entra ID: the client id of the app registration that exposes Feedhouse\'s API. Empty: no sign-in, personal access tokens only.')
param oidcClientId string = ''

@description('The audiences accepted tokens must be for, comma-separated (FEEDHOUSE_OIDC_AUDIENCE). Empty: the client id (v2 tokens) and api://<client id> (v1 tokens).')
param oidcAudience string = ''

@description('Another OpenID Connect issuer instead of the Entra ID tenant (FEEDHOUSE_OIDC_ISSUER), exactly as its tokens\' iss reads; it needs oidcAudience.')
param oidcIssuer string = ''

@description('Sign-in in the web UI and with `feedhouse login --device-code`: the client id people sign in with (FEEDHOUSE_OIDC_CLIENT_ID; redirect URI https://<app host>/-/signin/callback). Empty: oidcClientId for Entra ID, none with oidcIssuer.')
param oidcSigninClientId string = ''

@secure()
@description('The web UI\'s client secret (FEEDHOUSE_OIDC_CLIENT_SECRET): Entra ID redeems a web app\'s authorization code only with one. It lands in Key Vault only; the app setting is a Key Vault reference. Empty: a public client (PKCE only).')
param oidcClientSecret string = ''

@description('The scopes `feedhouse login --device-code` asks for, space-separated (FEEDHOUSE_OIDC_SCOPES). Empty: api://<oidcClientId>/user_impersonation for Entra ID.')
param oidcScopes string = ''

@allowed(['3.11', '3.12'])
@description('Python version of the Functions worker. The app and its requirements are tested on 3.11.')
param pythonVersion string = '3.11'

@allowed([512, 2048, 4096])
@description('Memory of each Flex Consumption instance, in MB. Billing is per GB-second of instance memory.')
param instanceMemoryMB int = 2048

// Flex Consumption takes 40 to 1000 in every region. Microsoft's docs gave 40 as the lowest value until 2026;
// lower values have been rolled out region by region since then (Azure/azure-functions-host#10523), so below 40
// a deployment fails where they haven't arrived, and where they have, Microsoft warns that they cause failed
// requests and scale throttling, above all for HTTP apps like this one.
@minValue(40)
@maxValue(1000)
@description('Most instances the app may scale out to (40 to 1000): the ceiling on what a traffic spike can cost.')
param maximumInstanceCount int = 40

@minValue(1)
@maxValue(1000)
@description('Concurrent HTTP requests per instance (the Python default is 1). Handlers mostly wait on storage.')
param httpPerInstanceConcurrency int = 4

@minValue(0)
@maxValue(10)
@description('Always-ready instances for the HTTP functions: no cold starts, but billed around the clock. 0 = scale to zero.')
param alwaysReadyInstances int = 0

@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_RAGRS', 'Standard_GZRS', 'Standard_RAGZRS'])
@description('Replication of the storage account that holds the packages.')
param storageSku string = 'Standard_LRS'

@minValue(30)
@maxValue(730)
@description('Days Log Analytics keeps logs and telemetry (the first 31 days cost no retention fee).')
param logRetentionDays int = 30

@description('Daily ingestion cap of the Log Analytics workspace, in GB (-1 = none). Bounds the bill of a log flood.')
param logDailyCapGb int = 1

@minValue(7)
@maxValue(90)
@description('Days a deleted Key Vault (and its secret) can still be recovered.')
param keyVaultSoftDeleteDays int = 7

@description('Extra tags for every resource.')
param tags object = {}

// The names the code uses: shared/storage.py BLOB_CONTAINER and TABLE_NAMES (tests/infra checks they match).
var packagesContainerName = 'packages'
var tableNames = ['feeds', 'projects', 'files', 'tokens', 'permissions', 'recyclebin', 'publishers', 'sessions', 'history', 'lockfiles', 'downloads']

var resourceToken = toLower(uniqueString(resourceGroup().id, environmentName, location))
var allTags = union(tags, { 'azd-env-name': environmentName })
var functionAppName = 'func-${resourceToken}'
// Flex Consumption runs the app from a zip in this container (one per app); the host keeps its own containers.
var deploymentContainerName = 'app-package-${functionAppName}'
var adminTokenSecretName = 'feedhouse-admin-token'

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: allTags
    retentionInDays: logRetentionDays
    dailyCapGb: logDailyCapGb
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: allTags
    skuName: storageSku
    packagesContainerName: packagesContainerName
    tableNames: tableNames
    deploymentContainerName: deploymentContainerName
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: allTags
    softDeleteRetentionInDays: keyVaultSoftDeleteDays
    adminTokenSecretName: adminTokenSecretName
    adminToken: adminToken
    oidcClientSecret: oidcClientSecret
  }
}

module api 'app/function.bicep' = {
  name: 'api'
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: allTags
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    pythonVersion: pythonVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    alwaysReadyInstances: alwaysReadyInstances
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  params: {
    principalId: api.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

// Sign-in: the tenant's v2.0 issuer (what Entra ID v2 access tokens carry as iss) once an app
// registration is named, or another provider's issuer; nothing when neither is.
var entraIssuer = empty(oidcClientId) ? '' : '${environment().authentication.loginEndpoint}${oidcTenantId}/v2.0'
var oidcIssuerUrl = empty(oidcIssuer) ? entraIssuer : oidcIssuer
var entraAudiences = empty(oidcClientId) ? '' : '${oidcClientId},api://${oidcClientId}'
var oidcAudiences = empty(oidcAudience) ? entraAudiences : oidcAudience
// Who signs in (the web UI, the feedhouse client): for Entra ID the API's own app registration, which
// can ask for a token for itself, unless another is named; the device code flow asks for its scope.
var entraSigninClientId = empty(oidcIssuer) ? oidcClientId : ''
var signinClientId = empty(oidcSigninClientId) ? entraSigninClientId : oidcSigninClientId
var entraScopes = (empty(oidcClientId) || !empty(oidcIssuer)) ? '' : 'api://${oidcClientId}/user_impersonation'
var signinScopes = empty(oidcScopes) ? entraScopes : oidcScopes

// The settings go on last, once the identity holds its roles, so the first start resolves the Key Vault
// reference and reaches storage instead of caching a failure.
module appSettings 'app/appsettings.bicep' = {
  name: 'appsettings'
  dependsOn: [rbac]
  params: {
    functionAppName: api.outputs.name
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    adminTokenUri: keyVault.outputs.adminTokenUri
    feedCreators: feedCreators
    maxUploadBytes: maxUploadBytes
    pageMaxAgeSeconds: pageMaxAgeSeconds
    recycleBinDays: recycleBinDays
    feedRecycleBinDays: feedRecycleBinDays
    downloadMode: downloadMode
    downloadUrlSeconds: downloadUrlSeconds
    downloadCountFlushSeconds: downloadCountFlushSeconds
    oidcIssuer: oidcIssuerUrl
    oidcAudience: oidcAudiences
    oidcClientId: signinClientId
    oidcClientSecretUri: keyVault.outputs.oidcClientSecretUri
    oidcScopes: signinScopes
  }
}

var baseUrl = 'https://${api.outputs.defaultHostName}'

// azd copies these into the environment (azd env get-values); az prints them under properties.outputs.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_NAME string = api.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output FEEDHOUSE_URL string = baseUrl
output FEEDHOUSE_PIP_INDEX_URL string = '${baseUrl}/${firstFeedName}/simple/'
output FEEDHOUSE_UPLOAD_URL string = '${baseUrl}/${firstFeedName}/upload/'
