//! The entity sets the simulator publishes, with property names, types,
//! keys and relations as D365FO publishes them, so a query written against
//! the simulator works against the real service.

use super::schema::{
    CUST_VENDOR_BLOCKED, CUSTOMER_TYPE, DEBIT_CREDIT, FieldType, ForeignKey, MAIN_ACCOUNT_TYPE,
    NO_YES, Navigation, PRODUCT_SUBTYPE, PRODUCT_TYPE, SALES_STATUS, SetDef, f,
};
use FieldType::{Boolean, DateTime, Decimal, Enum, Int32, Int64, String as Str};

/// Order lines join their header on company and order number.
const ORDER_JOIN: &[(&str, &str)] = &[
    ("dataAreaId", "dataAreaId"),
    ("SalesOrderNumber", "SalesOrderNumber"),
];

pub(crate) static LEGAL_ENTITIES: SetDef = SetDef {
    name: "LegalEntities",
    type_name: "Microsoft.Dynamics.DataEntities.LegalEntity",
    aot_name: "OMLegalEntity",
    label: "Legal entities",
    keys: &["LegalEntityId"],
    fields: &[
        f("LegalEntityId", Str),
        f("Name", Str),
        f("AddressCountryRegionId", Str),
        f("AddressCity", Str),
        f("LanguageId", Str),
        f("AccountingCurrency", Str),
        f("IsInternalOrganization", Boolean),
    ],
    mandatory: &["Name"],
    navigations: &[],
    foreign_keys: &[],
};

pub(crate) static CURRENCIES: SetDef = SetDef {
    name: "Currencies",
    type_name: "Microsoft.Dynamics.DataEntities.Currency",
    aot_name: "CurrencyEntity",
    label: "Currencies",
    keys: &["CurrencyCode"],
    fields: &[
        f("CurrencyCode", Str),
        f("Name", Str),
        f("Symbol", Str),
        f("GeneralRoundingPrecision", Decimal),
        f("ReferenceCurrencyForTriangulation", Enum(&NO_YES)),
    ],
    mandatory: &[],
    navigations: &[],
    foreign_keys: &[],
};

pub(crate) static CUSTOMER_GROUPS: SetDef = SetDef {
    name: "CustomerGroups",
    type_name: "Microsoft.Dynamics.DataEntities.CustomerGroup",
    aot_name: "CustCustomerGroupEntity",
    label: "Customer groups",
    keys: &["dataAreaId", "CustomerGroupId"],
    fields: &[
        f("dataAreaId", Str),
        f("CustomerGroupId", Str),
        f("Description", Str),
        f("PaymentTermId", Str),
        f("IsSalesTaxIncludedInPrice", Enum(&NO_YES)),
        f("ClearingPeriodPaymentTermName", Str),
    ],
    mandatory: &[],
    navigations: &[],
    foreign_keys: &[],
};

pub(crate) static CUSTOMERS_V3: SetDef = SetDef {
    name: "CustomersV3",
    type_name: "Microsoft.Dynamics.DataEntities.CustomerV3",
    aot_name: "CustCustomerV3Entity",
    label: "Customers",
    keys: &["dataAreaId", "CustomerAccount"],
    fields: &[
        f("dataAreaId", Str),
        f("CustomerAccount", Str),
        f("OrganizationName", Str),
        f("CustomerType", Enum(&CUSTOMER_TYPE)),
        f("CustomerGroupId", Str),
        f("SalesCurrencyCode", Str),
        f("CreditLimit", Decimal),
        f("CreditLimitIsMandatory", Enum(&NO_YES)),
        f("OnHoldStatus", Enum(&CUST_VENDOR_BLOCKED)),
        f("PaymentTerms", Str),
        f("AddressCountryRegionId", Str),
        f("AddressCity", Str),
        f("AddressStreet", Str),
        f("AddressZipCode", Str),
        f("PrimaryContactEmail", Str),
        f("PrimaryContactPhone", Str),
        f("LanguageId", Str),
        f("PartyNumber", Str),
        f("CustomerPaymentMethod", Str),
        f("DeliveryTerms", Str),
        f("IsOneTimeCustomer", Enum(&NO_YES)),
        f("ShipCarrierAccount", Str),
        f("EmployeeResponsibleNumber", Str),
        f("CreatedDateTime", DateTime),
    ],
    mandatory: &["CustomerGroupId"],
    navigations: &[],
    foreign_keys: &[
        ForeignKey {
            fields: &[
                ("dataAreaId", "dataAreaId"),
                ("CustomerGroupId", "CustomerGroupId"),
            ],
            target: "CustomerGroups",
        },
        ForeignKey {
            fields: &[("SalesCurrencyCode", "CurrencyCode")],
            target: "Currencies",
        },
    ],
};

pub(crate) static VENDORS_V2: SetDef = SetDef {
    name: "VendorsV2",
    type_name: "Microsoft.Dynamics.DataEntities.VendorV2",
    aot_name: "VendVendorV2Entity",
    label: "Vendors",
    keys: &["dataAreaId", "VendorAccountNumber"],
    fields: &[
        f("dataAreaId", Str),
        f("VendorAccountNumber", Str),
        f("VendorOrganizationName", Str),
        f("VendorGroupId", Str),
        f("CurrencyCode", Str),
        f("OnHoldStatus", Enum(&CUST_VENDOR_BLOCKED)),
        f("AddressCountryRegionId", Str),
        f("AddressCity", Str),
        f("PrimaryEmailAddress", Str),
        f("PaymentTermsName", Str),
        f("VendorPartyNumber", Str),
        f("NumberOfEmployees", Int32),
    ],
    mandatory: &["VendorGroupId"],
    navigations: &[],
    foreign_keys: &[],
};

pub(crate) static RELEASED_PRODUCTS_V2: SetDef = SetDef {
    name: "ReleasedProductsV2",
    type_name: "Microsoft.Dynamics.DataEntities.ReleasedProductV2",
    aot_name: "EcoResReleasedProductV2Entity",
    label: "Released products",
    keys: &["dataAreaId", "ItemNumber"],
    fields: &[
        f("dataAreaId", Str),
        f("ItemNumber", Str),
        f("ProductNumber", Str),
        f("ProductName", Str),
        f("SearchName", Str),
        f("ProductType", Enum(&PRODUCT_TYPE)),
        f("ProductSubType", Enum(&PRODUCT_SUBTYPE)),
        f("ItemModelGroupId", Str),
        f("ProductGroupId", Str),
        f("StorageDimensionGroupName", Str),
        f("TrackingDimensionGroupName", Str),
        f("InventoryUnitSymbol", Str),
        f("SalesUnitSymbol", Str),
        f("PurchaseUnitSymbol", Str),
        f("SalesPrice", Decimal),
        f("PurchasePrice", Decimal),
        f("NetProductWeight", Decimal),
        f("ProductLifecycleStateId", Str),
    ],
    mandatory: &["ProductNumber"],
    navigations: &[],
    foreign_keys: &[],
};

pub(crate) static SALES_ORDER_HEADERS_V2: SetDef = SetDef {
    name: "SalesOrderHeadersV2",
    type_name: "Microsoft.Dynamics.DataEntities.SalesOrderHeaderV2",
    aot_name: "SalesOrderHeaderV2Entity",
    label: "Sales orders",
    keys: &["dataAreaId", "SalesOrderNumber"],
    fields: &[
        f("dataAreaId", Str),
        f("SalesOrderNumber", Str),
        f("OrderingCustomerAccountNumber", Str),
        f("InvoiceCustomerAccountNumber", Str),
        f("SalesOrderName", Str),
        f("CurrencyCode", Str),
        f("SalesOrderStatus", Enum(&SALES_STATUS)),
        f("SalesOrderOriginCode", Str),
        f("CustomersOrderReference", Str),
        f("PaymentTermsName", Str),
        f("DeliveryModeCode", Str),
        f("DefaultShippingSiteId", Str),
        f("DefaultShippingWarehouseId", Str),
        f("LanguageId", Str),
        f("RequestedShippingDate", DateTime),
        f("RequestedReceiptDate", DateTime),
        f("OrderCreationDateTime", DateTime),
        f("OrderTotalAmount", Decimal),
        f("IsSalesProcessingStopped", Enum(&NO_YES)),
    ],
    mandatory: &["OrderingCustomerAccountNumber", "CurrencyCode"],
    navigations: &[Navigation {
        name: "SalesOrderLines",
        target: "SalesOrderLines",
        collection: true,
        constraints: ORDER_JOIN,
        partner: Some("SalesOrderHeaderV2"),
    }],
    foreign_keys: &[
        ForeignKey {
            fields: &[
                ("dataAreaId", "dataAreaId"),
                ("OrderingCustomerAccountNumber", "CustomerAccount"),
            ],
            target: "CustomersV3",
        },
        ForeignKey {
            fields: &[("CurrencyCode", "CurrencyCode")],
            target: "Currencies",
        },
    ],
};

pub(crate) static SALES_ORDER_LINES: SetDef = SetDef {
    name: "SalesOrderLines",
    type_name: "Microsoft.Dynamics.DataEntities.SalesOrderLine",
    aot_name: "SalesOrderLineV2Entity",
    label: "Sales order lines",
    keys: &["dataAreaId", "InventoryLotId"],
    fields: &[
        f("dataAreaId", Str),
        f("InventoryLotId", Str),
        f("SalesOrderNumber", Str),
        f("LineNumber", Decimal),
        f("ItemNumber", Str),
        f("LineDescription", Str),
        f("OrderedSalesQuantity", Decimal),
        f("SalesUnitSymbol", Str),
        f("SalesPrice", Decimal),
        f("LineDiscountAmount", Decimal),
        f("LineAmount", Decimal),
        f("CurrencyCode", Str),
        f("SalesOrderLineStatus", Enum(&SALES_STATUS)),
        f("ShippingSiteId", Str),
        f("ShippingWarehouseId", Str),
        f("RequestedShippingDate", DateTime),
        f("LineCreationSequenceNumber", Int32),
    ],
    mandatory: &["SalesOrderNumber", "ItemNumber"],
    navigations: &[Navigation {
        name: "SalesOrderHeaderV2",
        target: "SalesOrderHeadersV2",
        collection: false,
        constraints: ORDER_JOIN,
        partner: Some("SalesOrderLines"),
    }],
    foreign_keys: &[
        ForeignKey {
            fields: ORDER_JOIN,
            target: "SalesOrderHeadersV2",
        },
        ForeignKey {
            fields: &[("dataAreaId", "dataAreaId"), ("ItemNumber", "ItemNumber")],
            target: "ReleasedProductsV2",
        },
    ],
};

pub(crate) static MAIN_ACCOUNTS: SetDef = SetDef {
    name: "MainAccounts",
    type_name: "Microsoft.Dynamics.DataEntities.MainAccount",
    aot_name: "MainAccountEntity",
    label: "Main accounts",
    keys: &["ChartOfAccounts", "MainAccountId"],
    fields: &[
        f("ChartOfAccounts", Str),
        f("MainAccountId", Str),
        f("Name", Str),
        f("MainAccountType", Enum(&MAIN_ACCOUNT_TYPE)),
        f("MainAccountCategory", Str),
        f("DebitCreditDefault", Enum(&DEBIT_CREDIT)),
        f("IsSuspended", Enum(&NO_YES)),
        f("DoNotAllowManualEntry", Enum(&NO_YES)),
        f("MainAccountRecId", Int64),
        f("ChartOfAccountsRecId", Int64),
        f("ActiveFrom", DateTime),
        f("ActiveTo", DateTime),
    ],
    mandatory: &["Name"],
    navigations: &[],
    foreign_keys: &[],
};

pub(crate) static EXCHANGE_RATES: SetDef = SetDef {
    name: "ExchangeRates",
    type_name: "Microsoft.Dynamics.DataEntities.ExchangeRate",
    aot_name: "ExchangeRateEntity",
    label: "Exchange rates",
    keys: &["RateTypeName", "FromCurrency", "ToCurrency", "StartDate"],
    fields: &[
        f("RateTypeName", Str),
        f("FromCurrency", Str),
        f("ToCurrency", Str),
        f("StartDate", DateTime),
        f("EndDate", DateTime),
        f("Rate", Decimal),
        f("RateTypeDescription", Str),
    ],
    mandatory: &[],
    navigations: &[],
    foreign_keys: &[
        ForeignKey {
            fields: &[("FromCurrency", "CurrencyCode")],
            target: "Currencies",
        },
        ForeignKey {
            fields: &[("ToCurrency", "CurrencyCode")],
            target: "Currencies",
        },
    ],
};
