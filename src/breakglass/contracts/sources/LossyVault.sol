// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import "@openzeppelin/contracts/access/Ownable.sol";
import "@openzeppelin/contracts/security/Pausable.sol";

/// @title LossyVault
/// @notice A share vault over one ERC-20 asset, deliberately vulnerable, for loss-analysis
///         tests and drills. Never deploy it anywhere that matters.
/// @dev The flaw: `redeem` burns the shares BEFORE it prices them, so the payout is
///      `shares * assets / (supply - shares)` instead of `shares * assets / supply`. A large
///      holder is overpaid by about `shares^2 / supply` — negligible for a small redemption,
///      ruinous with borrowed capital: deposit a flash-loaned amount, redeem it at once, keep
///      the excess, repay the loan. The excess comes out of every other holder's shares.
contract LossyVault is ERC20, Ownable, Pausable {
    IERC20 public immutable asset;

    event Deposit(address indexed owner, uint256 assets, uint256 shares);
    event Withdraw(address indexed owner, uint256 assets, uint256 shares);

    constructor(IERC20 asset_) ERC20("Lossy Vault Share", "lvUSD") {
        asset = asset_;
    }

    /// @notice Assets held by the vault.
    function totalAssets() public view returns (uint256) {
        return asset.balanceOf(address(this));
    }

    /// @notice Assets per share, scaled by 1e18 (1e18 while the vault is empty).
    function pricePerShare() public view returns (uint256) {
        uint256 supply = totalSupply();
        return supply == 0 ? 1e18 : totalAssets() * 1e18 / supply;
    }

    /// @notice Deposit `assets` (approved beforehand) and receive shares at the current price.
    function deposit(uint256 assets) external whenNotPaused returns (uint256 shares) {
        uint256 supply = totalSupply();
        shares = supply == 0 ? assets : assets * supply / totalAssets();
        require(shares > 0, "LossyVault: zero shares");
        require(asset.transferFrom(msg.sender, address(this), assets), "LossyVault: transfer");
        _mint(msg.sender, shares);
        emit Deposit(msg.sender, assets, shares);
    }

    /// @notice Burn `shares` and receive their assets. (Flawed: see the contract's notes.)
    function redeem(uint256 shares) external whenNotPaused returns (uint256 assets) {
        _burn(msg.sender, shares);
        uint256 supply = totalSupply();
        assets = supply == 0 ? totalAssets() : shares * totalAssets() / supply;
        if (assets > totalAssets()) assets = totalAssets();
        require(asset.transfer(msg.sender, assets), "LossyVault: transfer");
        emit Withdraw(msg.sender, assets, shares);
    }

    function pause() external onlyOwner {
        _pause();
    }

    function unpause() external onlyOwner {
        _unpause();
    }
}
