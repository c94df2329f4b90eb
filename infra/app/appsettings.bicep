// The Function App's app settings: exactly the settings Feedhouse reads in Azure (shared/settings.py,
// SETTINGS with deployed=True) plus the platform's own. tests/infra/test_bicep.py holds both lists and fails
// when they drift apart. This resource replaces the whole set, so every setting belongs here.

param functionAppName string
param storageAccountName string
param applicationInsightsName string
param adminTokenUri string
param feedCreators string
param maxUploadBytes int
param pageMaxAgeSeconds int
param recycleBinDays int
param feedRecycleBinDays int
param downloadMode string
param downloadUrlSeconds int
param downloadCountFlushSeconds int
param oidcIssuer string
param oidcAudience string
param oidcClientId string
param oidcClientSecretUri string
param oidcScopes string

// The host's body limit sits above the app's own (maxUploadBytes + 1 MiB of form fields, functions/upload.py)
// so a request the app would accept is never cut off by the host, and a too-large one gets the app's 413
// rather than the host's 500 (azure-functions-host#10519). Without it the host default (100 MiB) would
// reject a wheel close to the default 100 MiB FEEDHOUSE_MAX_UPLOAD_BYTES once the form fields are added.
var bodyLimitHeadroomBytes = 8 * 1024 * 1024

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // This resource holds app settings only, but checkov runs its Web App checks on Microsoft.Web/sites/config
  // too. The site's own properties are checked in function.bicep; these findings don't apply here.
  // checkov:skip=CKV_AZURE_13:Not a site (app settings only). Feedhouse authenticates callers itself; EasyAuth isn't supported on Flex Consumption.
  // checkov:skip=CKV_AZURE_63:Not a site (app settings only). Requests are logged to Application Insights.
  // checkov:skip=CKV_AZURE_65:Not a site (app settings only). Detailed error pages are an IIS feature that doesn't apply to a Linux Function App.
  // checkov:skip=CKV_AZURE_66:Not a site (app settings only). Failed request tracing is an IIS feature that doesn't apply to a Linux Function App.
  // checkov:skip=CKV_AZURE_80:Not a site (app settings only). No .NET Framework: the app runs Python.
  // checkov:skip=CKV_AZURE_88:Not a site (app settings only). Flex Consumption has no Azure Files content share; the app runs from its deployment blob container.
  // checkov:skip=CKV_AZURE_222:Not a site (app settings only). See function.bicep for the site's public network access.
  parent: site
  name: 'appsettings'
  properties: {
    // Platform: the host's own storage, through the system-assigned identity (no connection string).
    AzureWebJobsStorage__accountName: storageAccountName
    // Platform: where telemetry goes; not a secret once local auth is off.
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    // Platform: send that telemetry with the system-assigned identity (Entra ID).
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
    // Platform: the host's request body limit, in bytes (see above).
    FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: string(maxUploadBytes + bodyLimitHeadroomBytes)
    // Platform: no "Your Functions app is up and running" page: `/` is the web UI's landing page (its
    // route matches the empty path; the host's page would answer only if none did).
    AzureWebJobsDisableHomepage: 'true'

    // Feedhouse: the account holding packages and metadata, reached with DefaultAzureCredential.
    FEEDHOUSE_STORAGE_ACCOUNT_NAME: storageAccountName
    // Feedhouse: the bootstrap admin token, resolved from Key Vault by the platform.
    FEEDHOUSE_ADMIN_TOKEN: '@Microsoft.KeyVault(SecretUri=${adminTokenUri})'
    // Feedhouse: who may create feeds besides the admin.
    FEEDHOUSE_FEED_CREATORS: feedCreators
    // Feedhouse: the largest distribution file accepted.
    FEEDHOUSE_MAX_UPLOAD_BYTES: string(maxUploadBytes)
    // Feedhouse: how long clients may cache simple pages and the JSON API.
    FEEDHOUSE_PAGE_MAX_AGE_SECONDS: string(pageMaxAgeSeconds)
    // Feedhouse: how long deleted versions stay restorable before the daily purge.
    FEEDHOUSE_RECYCLE_BIN_DAYS: string(recycleBinDays)
    // Feedhouse: how long a deleted feed stays restorable before the daily sweep purges it.
    FEEDHOUSE_FEED_RECYCLE_BIN_DAYS: string(feedRecycleBinDays)
    // Feedhouse: files as a 302 to a user-delegation SAS URL (redirect) or through the function (stream).
    FEEDHOUSE_DOWNLOAD_MODE: downloadMode
    // Feedhouse: how long one SAS download URL is handed out unchanged.
    FEEDHOUSE_DOWNLOAD_URL_SECONDS: string(downloadUrlSeconds)
    FEEDHOUSE_DOWNLOAD_COUNT_FLUSH_SECONDS: string(downloadCountFlushSeconds)
    // Feedhouse: the OpenID Connect issuer whose access tokens sign users in (empty: none), and the
    // audiences those tokens must be for.
    FEEDHOUSE_OIDC_ISSUER: oidcIssuer
    FEEDHOUSE_OIDC_AUDIENCE: oidcAudience
    // Feedhouse: the client people sign in with (the web UI, `feedhouse login --device-code`), the web
    // UI's client secret resolved from Key Vault (empty: a public client), and the client's scopes.
    FEEDHOUSE_OIDC_CLIENT_ID: oidcClientId
    FEEDHOUSE_OIDC_CLIENT_SECRET: empty(oidcClientSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${oidcClientSecretUri})'
    FEEDHOUSE_OIDC_SCOPES: oidcScopes
  }
}
